"""QObjects that run engine calls off the UI thread and report through signals."""

from .device import DeviceService
from .remote import Reachability

__all__ = ["DeviceService", "Reachability"]
