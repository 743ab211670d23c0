"""MQTT to readings: validates every meter message and stores it before acknowledging it."""
