"""Past syncs of the open device, newest first, read page by page from the engine's history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from syncengine import SyncRecord

from .. import format as fmt
from ._paged import Fetch, PagedTableModel


def result_text(record: SyncRecord) -> str:
    """Return a one-line summary of a sync's outcome."""
    if record.error is not None:
        return "Failed: " + record.error
    if record.report.get("cancelled"):
        return "Cancelled"
    if record.report.get("stopped_early"):
        return "Stopped early"
    return "OK"


def report_html(record: SyncRecord, device_name: Callable[[str | None], str] = lambda d: d or "") -> str:
    """Return a sync's full report as a short HTML document: when, the outcome, what moved, how long each stage took."""
    r = record.report
    rows: list[tuple[str, str]] = [
        ("Started", fmt.stamp(record.started_at)),
        ("Took", f"{max(0.0, record.finished_at - record.started_at):.2f} s"),
        ("Result", result_text(record)),
    ]
    if record.remote:
        rows.append(("Shared log", fmt.location(record.remote)))
    if "sent" in r:
        rows += [
            ("Sent", _moved(r, "sent", "sent_batches")),
            ("Received", _moved(r, "received", "received_batches")),
            ("Applied", fmt.plural(int(r.get("applied", 0)), "entry")),
            ("Conflicts found", f"{int(r.get('conflicts', 0)):,}"),
        ]
        for key, label in _OPTIONAL:
            if r.get(key):
                rows.append((label, f"{int(r[key]):,}"))
        timings = r.get("timings") or {}
        if timings:
            rows.append(("Stages", ", ".join(f"{STAGE_NAMES.get(k, k)} {float(v):.2f} s" for k, v in timings.items())))
        if r.get("new_log") and not r.get("log_restored"):  # a restored log: said below, not "for the first time"
            rows.append(("New shared log", "this device shared its whole state there for the first time"))
        if r.get("identity_changed"):
            rows.append(("New device id", str(r["identity_changed"])))
        if r.get("log_restored"):
            rows.append(("Shared log restored", f"{r['log_restored']}; this device shared its whole state there again"))
        for change in r.get("schema_changes") or ():
            rows.append(("Schema change", str(change)))
        if r.get("device_id"):
            rows.append(("Device", f"{device_name(r['device_id'])} ({r['device_id']})"))
    cells = "".join(
        f"<tr><td style='padding:2px 14px 2px 0'><b>{_escape(k)}</b></td><td style='padding:2px 0'>{_escape(v)}</td></tr>"
        for k, v in rows
    )
    error = f"<p style='color:#d64541'><b>Error:</b> {_escape(record.error)}</p>" if record.error else ""
    return f"{error}<table cellspacing='0'>{cells}</table>"


STAGE_NAMES = {"receive": "receiving", "share": "sending", "reconcile": "applying"}
_OPTIONAL = (("held", "Held for a decision"), ("quarantined", "Quarantined"), ("dropped", "Dropped"),
             ("cleaned", "Cleaned from the log"), ("state_shared", "Rows shared again"))


def _moved(report: dict[str, Any], entries: str, batches: str) -> str:
    n, b = int(report.get(entries, 0)), int(report.get(batches, 0))
    return fmt.plural(n, "entry") + (f" in {fmt.plural(b, 'batch', 'batches')}" if b else "")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ActivityModel(PagedTableModel[SyncRecord]):
    """One row a sync (``Device.history``): when, counts, duration and the result."""

    headers = ("When", "Sent", "Received", "Applied", "Conflicts", "Quarantined", "Duration", "Result")
    _COUNTS: ClassVar[dict[int, str]] = {1: "sent", 2: "received", 3: "applied", 4: "conflicts", 5: "quarantined"}

    def __init__(self, fetch: Fetch[SyncRecord] | None = None, *, page_size: int = 100) -> None:
        super().__init__(fetch, page_size=page_size)

    def cell(self, item: SyncRecord, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return fmt.stamp(item.started_at)
            if column in self._COUNTS:
                n = item.report.get(self._COUNTS[column])
                return fmt.DASH if n is None else f"{int(n):,}"
            if column == 6:
                return f"{max(0.0, item.finished_at - item.started_at):.2f} s"
            if column == 7:
                return result_text(item)
        if role == Qt.ItemDataRole.ForegroundRole and column == 7 and item.error is not None:
            return QColor(214, 69, 65)
        if role == Qt.ItemDataRole.ToolTipRole and column == 7:
            return item.error
        if role == Qt.ItemDataRole.TextAlignmentRole and 1 <= column <= 6:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
