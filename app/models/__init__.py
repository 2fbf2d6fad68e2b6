"""Thin Qt item models over engine queries: ids and a small row cache, pages fetched on demand."""

from .activity import ActivityModel
from .conflicts import ConflictGroupsModel, HistoryModel
from .devices import DevicesModel
from .log import LogModel

__all__ = ["ActivityModel", "ConflictGroupsModel", "DevicesModel", "HistoryModel", "LogModel"]
