"""The simulator as a real BLE peripheral on BlueZ (or BlueZoo), over D-Bus."""
