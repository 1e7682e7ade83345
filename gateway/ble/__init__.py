"""bleak, and nothing else, enters the gateway here (ARCHITECTURE.md rule 2)."""

from .link import BleakLink
from .scan import Found, scan

__all__ = ["BleakLink", "Found", "scan"]
