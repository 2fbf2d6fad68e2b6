"""Open conflicts grouped by row, and the history of decided ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt

from syncengine import Conflict

from .. import format as fmt
from ._paged import _INVALID, Fetch, Index, ListTableModel, PagedTableModel

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
        key = (table, tuple(pk))
        shown = next((g.label for g in self.items() if (g.table, g.pk) == key and g.label), None)
        return shown or self._labels.get(key) or fmt.key(tuple(pk))

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


HISTORY_LIMIT = 5000
"""How many decided conflicts the History reads and sorts at most (the newest by conflict id)."""


class HistoryModel(PagedTableModel[Conflict]):
    """Decided conflicts, the newest decision first, sortable by every column.

    The engine pages the history by conflict id (``Device.conflicts(status="decided",
    newest_first=True)``), which is not the order of the decisions (a conflict held for
    days is decided after younger ones) and it sorts by nothing else. So the model reads
    page after page, up to :data:`HISTORY_LIMIT` conflicts (``limit``), and sorts what it
    holds itself: every sort is over the whole history when it is smaller than that, and
    over its newest ``limit`` conflicts otherwise (:attr:`truncated` says so). The Row
    column names a row by :attr:`labels` (its current name, read from the table by the
    page's fetch), else by the values the conflict carries, else by its key.
    """

    headers = ("Decided", "Table", "Row", "Field", "Conflict", "Decision", "Value", "By", "How")

    def __init__(
        self,
        fetch: Fetch[Conflict] | None = None,
        *,
        device_name: Callable[[str | None], str] = lambda d: d or "",
        page_size: int = 500,
        limit: int = HISTORY_LIMIT,
    ) -> None:
        super().__init__(fetch, page_size=page_size)
        self.device_name = device_name
        self.labels: dict[tuple[str, tuple[Any, ...]], str] = {}
        self.limit = limit
        self.sort_column, self.sort_order = 0, Qt.SortOrder.DescendingOrder
        self._base: list[Conflict] = []  # the rows read, the newest decision first: where every sort starts

    # -- reading: every page up to the limit ------------------------------------------------

    def canFetchMore(self, parent: Index = _INVALID) -> bool:
        return super().canFetchMore(parent) and len(self._rows) < self.limit

    @property
    def truncated(self) -> bool:
        """Older decided conflicts exist beyond the ``limit`` read (sorts leave them out)."""
        return not self._exhausted and len(self._rows) >= self.limit

    async def _load(self, generation: int) -> None:
        # one page after another: a sort needs them all (each page is its own worker call)
        while True:
            await super()._load(generation)
            if generation != self._generation or not self.canFetchMore():
                return

    def _arrived(self) -> None:
        self._base = sorted(self._rows, key=lambda c: (c.decided_at or 0.0, c.id), reverse=True)
        self._arrange()

    # -- sorting ----------------------------------------------------------------------------

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.InitialSortOrderRole and orientation == Qt.Orientation.Horizontal:
            # what a first click on a header sorts by: the dates newest first, the rest A→Z
            return (Qt.SortOrder.DescendingOrder if section == 0 else Qt.SortOrder.AscendingOrder).value
        return super().headerData(section, orientation, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order every row read by ``column`` (ties: the newest decision first)."""
        if not 0 <= column < len(self.headers):
            return
        self.sort_column, self.sort_order = column, order
        self._arrange()

    def _arrange(self) -> None:
        self.layoutAboutToBeChanged.emit()
        moved = self.persistentIndexList()
        held = [self._rows[i.row()] for i in moved]
        rows = list(self._base) if len(self._base) == len(self._rows) else list(self._rows)
        column = self.sort_column
        rows.sort(key=lambda c: self.sort_key(c, column), reverse=self.sort_order == Qt.SortOrder.DescendingOrder)
        self._rows = rows
        place = {c.id: row for row, c in enumerate(rows)}
        self.changePersistentIndexList(moved, [self.index(place[c.id], i.column()) for i, c in zip(moved, held, strict=True)])
        self.layoutChanged.emit()

    def sort_key(self, item: Conflict, column: int) -> Any:
        """What ``column`` sorts ``item`` by: times and numbers as such, text without case."""
        if column == 0:
            return item.decided_at or 0.0
        if column == 6 and item.decided_value is not None:
            v = item.decided_value
            if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
                return (0, v, "")
            return (1, 0, fmt.value(v, limit=1000).casefold())
        if column == 6:
            return (2, 0, "")
        return self.text(item, column).casefold()

    # -- showing ----------------------------------------------------------------------------

    def row_name(self, item: Conflict) -> str:
        """The row's name: its current name in the table, else one from the conflict's values, else its key."""
        return self.labels.get((item.table, tuple(item.pk))) or _label(item)

    def text(self, item: Conflict, column: int) -> str:
        """What ``column`` shows of ``item`` (only that column is formatted: sorting asks for thousands)."""
        if column == 0:
            return fmt.stamp(item.decided_at)
        if column == 1:
            return item.table
        if column == 2:
            return self.row_name(item)
        if column == 3:
            return item.field or "whole row"
        if column == 4:
            return item.kind
        if column == 5:
            return DECISION_LABELS.get(item.decision or "", item.decision or fmt.DASH)
        if column == 6:
            return "deleted" if item.decided_value is None and item.field is None else fmt.value(item.decided_value, limit=60)
        if column == 7:
            return self.device_name(item.decided_by)
        return HOW_LABELS.get(item.decided_how or "", item.decided_how or "")

    def cell(self, item: Conflict, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(item, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 2:
                return f"{self.row_name(item)}\nkey {fmt.key(tuple(item.pk))}"
            if column == 6:
                return fmt.value(item.decided_value, limit=1000)
        return None
