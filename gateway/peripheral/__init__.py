"""Hosting GATT services through BlueZ's D-Bus API (dbus_fast): the simulator's
treadmill and the bridge's virtual one."""
