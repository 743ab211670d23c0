"""Users: who am I, and the people an admin or a secretary gives access."""
