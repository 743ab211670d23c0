"""Households: the flats watched over, their meters over time, residents, cadres and readings."""
