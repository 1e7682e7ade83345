"""Where runs go: Strava and intervals.icu, through a durable queue (docs/platforms.md).

httpx enters the gateway here and nowhere else (tests/unit/test_import_boundaries.py).
"""
