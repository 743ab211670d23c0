"""Buildings of a community, and the property managers of each."""
