"""Away windows: a cadre marks a household away, and no inactivity alert fires until it is due back."""
