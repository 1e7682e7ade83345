"""The bridge: retrogate as a virtual FTMS treadmill, HR strap and footpod for the
runner's own app, with every app command under the governor (docs/bridge.md)."""
