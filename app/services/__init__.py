"""QObjects that run engine calls off the UI thread and report through signals."""

from .device import DeviceService, Reachability

__all__ = ["DeviceService", "Reachability"]
