"""Meters and their households as CSV: a property manager's import and export (a public contract)."""
