"""A table model that fetches its rows page by page, asynchronously.

Qt asks ``canFetchMore`` / ``fetchMore`` when a view scrolls near the end. Here
``fetchMore`` only starts an asyncio task; the page arrives later and is inserted
with ``beginInsertRows(parent, first, first + n - 1)`` — the last row is
inclusive. The model keeps the rows it has loaded and nothing else; it never
shows a dialog (errors go out through ``failed``).

A fetch gets ``(offset, last, limit)``: how many rows are loaded, the last of them
(None for the first page) and the page size. Sources that page by key (the client
log's ``before_id``) use ``last``; the others use ``offset``. Filtering is the
source's job, so every page is a full page until the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

T = TypeVar("T")
Fetch = Callable[[int, T | None, int], Awaitable[Sequence[T]]]  # (offset, last loaded row, limit)
Index = QModelIndex | QPersistentModelIndex

_INVALID = QModelIndex()


class RowsTableModel(QAbstractTableModel, Generic[T]):
    """A table over ``self._rows``, one column per header; subclasses say what a cell shows.

    Row ``n`` shows ``self.row_item(n)`` (the ``n``-th item, unless a subclass orders
    them otherwise); :meth:`cell` gives what it shows in a column for a role.
    """

    headers: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[T] = []

    def row_item(self, row: int) -> T:
        return self._rows[row]

    def items(self) -> list[T]:
        return list(self._rows)

    def rowCount(self, parent: Index = _INVALID) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _INVALID) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.headers)
        ):
            return self.headers[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (
            not index.isValid()
            or not (0 <= index.row() < len(self._rows))
            or not (0 <= index.column() < len(self.headers))
        ):
            return None
        return self.cell(self.row_item(index.row()), index.column(), role)

    def cell(self, item: T, column: int, role: int) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class PagedTableModel(RowsTableModel[T]):
    """Rows of type ``T`` fetched by ``fetch(offset, last, limit)``; subclasses say how to show them."""

    pageLoaded = Signal(int)  # rows added by the page
    failed = Signal(object)  # the exception a fetch raised

    def __init__(self, fetch: Fetch[T] | None = None, *, page_size: int = 200) -> None:
        super().__init__()
        self._fetch = fetch
        self._exhausted = fetch is None
        self._task: asyncio.Future[None] | None = None
        self._generation = 0
        self.page_size = page_size

    # -- the source ---------------------------------------------------------------

    def set_source(self, fetch: Fetch[T] | None) -> None:
        """Forget the rows and read from ``fetch``."""
        self._generation += 1
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self.beginResetModel()
        self._fetch = fetch
        self._rows, self._exhausted = [], fetch is None
        self.endResetModel()

    async def stop(self) -> None:
        """Cancel a page still being fetched (the window is closing) and wait for it to end."""
        task = self._task
        if task is not None and not task.done():
            self._generation += 1
            task.cancel()
            await asyncio.wait([task])

    def refresh(self) -> None:
        """Read again from the start."""
        self.set_source(self._fetch)

    @property
    def loading(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    # -- Qt's lazy loading ------------------------------------------------------------

    def canFetchMore(self, parent: Index = _INVALID) -> bool:
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index = _INVALID) -> None:
        if parent.isValid() or self._exhausted or self.loading:
            return
        self._task = asyncio.ensure_future(self._load(self._generation))

    async def load_more(self) -> None:
        """Fetch the next page (or join the fetch under way) and return when it is in."""
        self.fetchMore()
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])  # returns, rather than raising, if a reset cancels it

    async def _load(self, generation: int) -> None:
        fetch = self._fetch
        assert fetch is not None
        try:
            found = list(await fetch(len(self._rows), self._rows[-1] if self._rows else None, self.page_size))
            if generation != self._generation:
                return
            if len(found) < self.page_size:
                self._exhausted = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._generation:
                self._exhausted = True  # do not hammer a failing source; refresh() tries again
                self.failed.emit(exc)
            return
        if found:
            first = len(self._rows)
            self.beginInsertRows(_INVALID, first, first + len(found) - 1)
            self._rows.extend(found)
            self.endInsertRows()
            self._arrived()
        self.pageLoaded.emit(len(found))

    def _arrived(self) -> None:
        """A page was appended to the rows (a sorted subclass puts them in order here)."""


class ListTableModel(RowsTableModel[T]):
    """A table over a short list replaced as a whole (devices, activity)."""

    def set_items(self, items: Sequence[T]) -> None:
        self.beginResetModel()
        self._rows = list(items)
        self.endResetModel()
