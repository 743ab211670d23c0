"""Residents: the people watched over, with only what a cadre needs to reach them."""
