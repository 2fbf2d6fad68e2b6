"""Open conflicts grouped by row, and the history of decided ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt

from syncengine import Conflict

from .. import format as fmt
from ._paged import Fetch, ListTableModel, PagedTableModel

KIND_LABELS = {
    "edit/edit": "Both edited",
    "delete/edit": "Deleted here or there, edited elsewhere",
    "create/create": "Created twice",
    "constraint": "Breaks a constraint",
    "diverged": "Diverged",
}
KIND_EXPLANATIONS = {
    "diverged": "both devices hold this version with different values: a write one of them never recorded "
    "(made while the table had no triggers, say). No order can tell which is right, so it waits for you; "
    "until then this device keeps its value",
}
"""A sentence for kinds whose label alone does not say what happened."""


def kind_label(kind: str) -> str:
    """Return a conflict kind for people (a kind this app does not know reads as itself)."""
    return KIND_LABELS.get(kind, kind)
DECISION_LABELS = {"auto": "Automatic", "local": "Kept local", "remote": "Took remote", "custom": "Custom value"}
HOW_LABELS = {"automatic": "automatically", "person": "by a person", "remote": "on another device"}


@dataclass(slots=True)
class Group:
    """The open conflicts of one row."""

    table: str
    pk: tuple[Any, ...]
    ids: list[int] = field(default_factory=list)
    label: str = ""


class ConflictGroupsModel(ListTableModel[Group]):
    """One row per database row with open conflicts; the conflicts themselves are cached by id.

    ``kind`` (None: every kind) shows only the rows with a conflict of that kind;
    ``open_count`` still counts every open conflict.
    """

    headers = ("Table", "Row", "Conflict", "Fields")
    GroupRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[int, Conflict] = {}
        self.label_for: Callable[[Conflict], str] = _label
        self.kind: str | None = None
        self._open: list[Conflict] = []
        self._labels: dict[tuple[str, tuple[Any, ...]], str] = {}

    def set_conflicts(self, conflicts: Sequence[Conflict], labels: dict[tuple[str, tuple[Any, ...]], str] | None = None) -> None:
        """Replace the open conflicts (grouped by table and key, in the order they came)."""
        self._open = [c for c in conflicts if c.is_open]
        self._labels = dict(labels or {})
        self.cache = {c.id: c for c in self._open}
        self._group()

    def set_kind(self, kind: str | None) -> None:
        """Show only the rows with a conflict of ``kind`` (None: all)."""
        self.kind = kind
        self._group()

    def _group(self) -> None:
        groups: dict[tuple[str, tuple[Any, ...]], Group] = {}
        for conflict in self._open:
            key = (conflict.table, tuple(conflict.pk))
            group = groups.setdefault(key, Group(conflict.table, tuple(conflict.pk)))
            group.ids.append(conflict.id)
            if not group.label:
                group.label = self._labels.get(key) or self.label_for(conflict)
        shown = [g for g in groups.values() if self.kind is None or any(self.cache[i].kind == self.kind for i in g.ids)]
        self.set_items(shown)

    def label_of(self, table: str, pk: Sequence[Any]) -> str:
        """The name the list gives a row (its key when it has none)."""
        return self._labels.get((table, tuple(pk))) or fmt.key(tuple(pk))

    def conflicts_of(self, row: int) -> list[Conflict]:
        return [self.cache[i] for i in self.row_item(row).ids]

    @property
    def open_count(self) -> int:
        return len(self.cache)

    @property
    def shown_count(self) -> int:
        """The open conflicts in the rows shown."""
        return sum(len(g.ids) for g in self._rows)

    def kinds(self) -> list[str]:
        """The kinds of the open conflicts."""
        return sorted({c.kind for c in self._open})

    def tables(self) -> list[str]:
        return sorted({g.table for g in self._rows})

    def cell(self, item: Group, column: int, role: int) -> Any:
        conflicts = [self.cache[i] for i in item.ids]
        if role == self.GroupRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return item.table
            if column == 1:
                return item.label or fmt.key(item.pk)
            if column == 2:
                kinds = sorted({c.kind for c in conflicts})
                return ", ".join(kinds)
            if column == 3:
                fields = [c.field for c in conflicts if c.field]
                return ", ".join(fields) if fields else "whole row"
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 2:
                return "; ".join(dict.fromkeys(kind_label(c.kind) + (f": {KIND_EXPLANATIONS[c.kind]}" if c.kind in KIND_EXPLANATIONS else "") for c in conflicts))
            if column == 1:
                return f"{item.label}\nkey {fmt.key(item.pk)}" if item.label else f"key {fmt.key(item.pk)}"
            if column in (0, 3):
                return self.cell(item, column, Qt.ItemDataRole.DisplayRole)
        return None


def _label(conflict: Conflict) -> str:
    """Return a readable name for the conflict's row, from the row values it carries."""
    for side in (conflict.local, conflict.remote, conflict.base):
        if isinstance(side, dict):
            for column in ("name", "title", "label", "sku"):
                if side.get(column):
                    return str(side[column])
    if conflict.field in ("name", "title") and conflict.local:
        return str(conflict.local)
    return fmt.key(conflict.pk)


class HistoryModel(PagedTableModel[Conflict]):
    """Decided conflicts, newest first, read a page at a time (``Device.conflicts(status="decided")``)."""

    headers = ("Decided", "Table", "Row", "Field", "Conflict", "Decision", "Value", "By", "How")

    def __init__(
        self,
        fetch: Fetch[Conflict] | None = None,
        *,
        device_name: Callable[[str | None], str] = lambda d: d or "",
        page_size: int = 200,
    ) -> None:
        super().__init__(fetch, page_size=page_size)
        self.device_name = device_name

    def cell(self, item: Conflict, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            values = (
                fmt.stamp(item.decided_at),
                item.table,
                _label(item),
                item.field or "whole row",
                item.kind,
                DECISION_LABELS.get(item.decision or "", item.decision or fmt.DASH),
                "deleted" if item.decided_value is None and item.field is None else fmt.value(item.decided_value, limit=60),
                self.device_name(item.decided_by),
                HOW_LABELS.get(item.decided_how or "", item.decided_how or ""),
            )
            return values[column]
        if role == Qt.ItemDataRole.ToolTipRole and column == 6:
            return fmt.value(item.decided_value, limit=1000)
        return None
