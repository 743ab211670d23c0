"""Persistence shared by the ingester, the detector and the API.

It imports nothing else of ours: readings stores (time series) and the relational database
(alerts, users, dead letters) live here.
"""
