"""MQTT: the topic contract (MQTT.md), payload models, and command parsing.

aiomqtt and amqtt enter the gateway through this package only.
"""
