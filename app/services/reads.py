"""What the views read through :class:`~app.services.device.DeviceService` besides its state: the client
log a page at a time, the sync history, quarantined entries, and the synced tables' columns and row names.

A mixin of the service, kept apart so that the service's own module stays about
opening, syncing and the remote. Every call runs in a worker thread (``run``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from syncengine import Device, LogRecord, Status, SyncRecord, SyncReport

from .. import format as fmt

T = TypeVar("T")


class Reads:
    """Reading the client log, the history and the tables (mixed into ``DeviceService``)."""

    device: Device
    _columns: dict[str, dict[str, sa.types.TypeEngine[Any]]]
    _pks: dict[str, list[str]]
    logChanged: Any  # the service's Signal

    if TYPE_CHECKING:

        @property
        def device_id(self) -> str: ...

        async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        async def refresh_status(self) -> Status: ...

    # -- log -------------------------------------------------------------------------------

    async def log_page(
        self,
        kind: str,
        *,
        limit: int,
        before_id: int | None = None,
        table: str | None = None,
        op: str | None = None,
        device_id: str | None = None,
    ) -> list[LogRecord]:
        """Return one page of the client log, newest first, below ``before_id`` (paged by key).

        ``kind`` is unshared, pending, quarantined or all; ``table``, ``op`` and
        ``device_id`` filter in the engine, so every page is full until the end.
        """
        flags: dict[str, Any] = {k: kind == k for k in ("unshared", "pending", "quarantined")}
        if kind == "all":
            flags = {"unshared": True, "pending": True, "quarantined": True}
        common: dict[str, Any] = {"table": table, "op": op, "limit": limit, "before_id": before_id}

        def read() -> list[LogRecord]:
            found = self.device.log(device_id=device_id, **common, **flags)
            if device_id != self.device_id or not flags["unshared"]:
                return found
            # Entries not sent yet carry no device id until they are stamped, and all are this
            # device's: merge them in (both lists are newest first, each at most a page).
            local = self.device.log(unshared=True, **common)
            merged = {r.id: r for r in (*found, *local)}
            return [merged[i] for i in sorted(merged, reverse=True)[:limit]]

        return await self.run(read)

    async def history(self, *, limit: int = 50, offset: int = 0) -> list[SyncRecord]:
        """Return this device's past syncs, newest first (the engine keeps them)."""
        return await self.run(self.device.history, limit=limit, offset=offset)

    async def retry_quarantined(self, ids: Sequence[int] | None = None) -> SyncReport:
        """Apply quarantined entries again; those that fail again stay quarantined."""
        try:
            return await self.run(self.device.retry_quarantined, ids)
        finally:
            self.logChanged.emit()
            await self.refresh_status()

    async def skip_quarantined(self, ids: Sequence[int] | None = None) -> int:
        """Give up on quarantined entries."""
        try:
            return await self.run(self.device.skip_quarantined, ids)
        finally:
            self.logChanged.emit()
            await self.refresh_status()

    # -- tables --------------------------------------------------------------------------

    async def columns(self, table: str) -> dict[str, sa.types.TypeEngine[Any]]:
        """Return the column types of a synced table (reflected once, in a worker thread)."""
        await self._reflect(table)
        return self._columns[table]

    async def primary_key(self, table: str) -> list[str]:
        """Return the primary-key columns of a synced table."""
        await self._reflect(table)
        return self._pks[table]

    async def _reflect(self, table: str) -> None:
        if table in self._columns:
            return

        def reflect() -> tuple[dict[str, sa.types.TypeEngine[Any]], list[str]]:
            reflected = self.device.table(table)
            return {c.name: c.type for c in reflected.columns}, [c.name for c in reflected.primary_key.columns]

        self._columns[table], self._pks[table] = await self.run(reflect)

    async def row_labels(self, keys: Sequence[tuple[str, tuple[Any, ...]]]) -> dict[tuple[str, tuple[Any, ...]], str]:
        """Return a readable name (its ``name``, ``title`` or ``sku`` column) for rows given by (table, key)."""
        by_table: dict[str, list[Any]] = {}
        for table, pk in keys:
            if len(pk) == 1 and table in self.device.tables:
                by_table.setdefault(table, []).append(pk[0])
        out: dict[tuple[str, tuple[Any, ...]], str] = {}
        for table, pks in by_table.items():
            columns = await self.columns(table)
            pk_cols = await self.primary_key(table)
            label = next((c for c in fmt.LABEL_COLUMNS if c in columns), None)
            if label is None or len(pk_cols) != 1:
                continue

            def read(table: str = table, label: str = label, pk_col: str = pk_cols[0], pks: list[Any] = pks) -> dict[Any, str]:
                return {r[pk_col]: str(r[label]) for r in self.device.rows(table, pks[:500])}

            for pk, name in (await self.run(read)).items():
                out[(table, (pk,))] = name
        return out
