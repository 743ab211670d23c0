"""Exports for analysts: alert outcomes as labels, and readings, both under pseudonyms."""
