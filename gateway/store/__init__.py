"""The session record: every sample and decision on disk, as it arrives.

sqlite3 enters the gateway through this package only. The record doubles as
the MQTT outbox: the telemetry and heart-rate streams are published from it,
so a broker outage or a gateway restart loses nothing.
"""
