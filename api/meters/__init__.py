"""Meters: their state derived from unresolved alerts, and their readings."""
