"""Talking to one device over a Link: control point, reconnects, a station's runtime."""
