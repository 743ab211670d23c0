"""People to alerts: the HTTP API, the settings and the ``anxin`` command line (the composition root)."""
