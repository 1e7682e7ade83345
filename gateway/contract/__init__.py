"""The MQTT contract (MQTT.md): topics and versioned payload models.

Both sides speak it from here: the gateway's bridge and recorder publish
these models, and the dashboard, the demo's monitor and your scripts read
the same models back. A change to the contract therefore fails a test on
both sides. Neutral: no MQTT client, no I/O.
"""
