"""Alerts: list them, look at one, acknowledge and resolve it."""
