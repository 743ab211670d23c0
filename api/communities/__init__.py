"""Communities: the unit of scope; an admin creates them, a secretary runs her own."""
