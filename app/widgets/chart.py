"""A small chart of sync activity on the Overview: entries sent and received per sync, and the conflicts found.

Drawn with QPainter (QtCharts is not part of PySide6-Essentials). One slot per
sync from the engine's history (``Device.history``), oldest on the left: a blue
bar for the entries sent and an orange one for those received, on one linear
scale (a grey tick for a sync that moved nothing); a red dot with its count above a sync that found conflicts; a grey cross
for a sync that failed. Hovering a slot shows that sync in a tooltip. The widget
keeps only what it draws and paints in well under a millisecond, so it stays on
during a sync (bench/bench_ui_latency.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from syncengine import SyncRecord

from .. import format as fmt

SENT = QColor(47, 111, 222)
RECEIVED = QColor(230, 140, 30)
CONFLICTS = QColor(214, 69, 65)
SHOWN = 30  # syncs drawn at most: the newest


@dataclass(frozen=True, slots=True)
class Point:
    """One sync as the chart draws it."""

    at: float
    sent: int
    received: int
    conflicts: int
    failed: bool
    cancelled: bool

    @classmethod
    def of(cls, record: SyncRecord) -> Point:
        r = record.report
        return cls(
            record.started_at,
            int(r.get("sent", 0) or 0),
            int(r.get("received", 0) or 0),
            int(r.get("conflicts", 0) or 0),
            record.error is not None,
            bool(r.get("cancelled")),
        )

    def describe(self) -> str:
        head = fmt.stamp(self.at) + (" — failed" if self.failed else " — cancelled" if self.cancelled else "")
        lines = [head, f"sent {fmt.plural(self.sent, 'entry')}", f"received {fmt.plural(self.received, 'entry')}"]
        if self.conflicts:
            lines.append(f"{fmt.plural(self.conflicts, 'conflict')} found")
        return "\n".join(lines)


class SyncChart(QWidget):
    """The last :data:`SHOWN` syncs, oldest on the left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[Point] = []
        self.setMinimumHeight(104)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("")  # tooltips come per slot (event)
        self.setAccessibleName("Sync activity chart")

    def sizeHint(self) -> QSize:
        return QSize(480, 104)

    def set_records(self, records: Sequence[SyncRecord]) -> None:
        """Show ``records`` (newest first, as ``Device.history`` returns them)."""
        self.points = [Point.of(r) for r in reversed(list(records)[:SHOWN])]
        self.setAccessibleDescription(self.summary())
        self.update()

    def summary(self) -> str:
        """The chart in one sentence (for screen readers and tests)."""
        if not self.points:
            return "No syncs yet"
        sent = sum(p.sent for p in self.points)
        received = sum(p.received for p in self.points)
        found = sum(p.conflicts for p in self.points)
        failed = sum(p.failed for p in self.points)
        text = f"Last {fmt.plural(len(self.points), 'sync')}: sent {sent:,}, received {received:,}, {fmt.plural(found, 'conflict')} found"
        return text + (f", {failed:,} failed" if failed else "")

    # -- geometry -----------------------------------------------------------------------

    def _plot(self) -> QRectF:
        """The area the bars stand in (below the legend, above the time axis)."""
        return QRectF(34, 22, max(10.0, self.width() - 44.0), max(10.0, self.height() - 42.0))

    def _slot(self, i: int) -> QRectF:
        plot = self._plot()
        width = plot.width() / max(len(self.points), 8)
        return QRectF(plot.left() + i * width, plot.top(), width, plot.height())

    def slot_at(self, x: float) -> int | None:
        """The index of the sync under ``x`` (widget coordinates), or None."""
        for i in range(len(self.points)):
            if self._slot(i).left() <= x < self._slot(i).right():
                return i
        return None

    # -- painting -----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        plot = self._plot()
        self._legend(painter, text)
        painter.setPen(QPen(muted, 1))
        painter.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()))
        if not self.points:
            painter.setPen(muted)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No syncs yet: the chart fills as this device syncs")
            painter.end()
            return
        top = max(1, *(max(p.sent, p.received) for p in self.points))
        painter.setPen(muted)
        painter.drawText(QRectF(0, plot.top() - 7, plot.left() - 4, 14), Qt.AlignmentFlag.AlignRight, _short(top))
        painter.drawText(QRectF(0, plot.bottom() - 7, plot.left() - 4, 14), Qt.AlignmentFlag.AlignRight, "0")
        for i, point in enumerate(self.points):
            self._draw_slot(painter, self._slot(i), point, top, muted)
        first, last = self.points[0].at, self.points[-1].at
        painter.setPen(muted)
        axis = QRectF(plot.left(), plot.bottom() + 3, plot.width(), 16)
        painter.drawText(axis, Qt.AlignmentFlag.AlignLeft, fmt.stamp(first)[:16])
        if fmt.stamp(last)[:16] != fmt.stamp(first)[:16]:  # one label when every sync fell in one minute
            painter.drawText(axis, Qt.AlignmentFlag.AlignRight, fmt.stamp(last)[:16])
        painter.end()

    def _legend(self, painter: QPainter, text: QColor) -> None:
        x = 34.0
        for colour, label in ((SENT, "sent"), (RECEIVED, "received"), (CONFLICTS, "conflicts found")):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            if colour is CONFLICTS:
                painter.drawEllipse(QRectF(x, 5, 9, 9))
            else:
                painter.drawRect(QRectF(x, 5, 9, 9))
            painter.setPen(text)
            width = painter.fontMetrics().horizontalAdvance(label)
            painter.drawText(QRectF(x + 13, 0, width + 4, 18), Qt.AlignmentFlag.AlignVCenter, label)
            x += 13 + width + 18

    def _draw_slot(self, painter: QPainter, slot: QRectF, point: Point, top: int, muted: QColor) -> None:
        bar = max(2.0, min(14.0, slot.width() * 0.32))
        middle = slot.center().x()
        for value, colour, left in ((point.sent, SENT, middle - bar - 1), (point.received, RECEIVED, middle + 1)):
            if value:
                height = max(2.0, slot.height() * value / top)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(colour)
                painter.drawRect(QRectF(left, slot.bottom() - height, bar, height))
        if not point.sent and not point.received and not point.failed:  # a sync that moved nothing: a tick
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(muted)
            painter.drawEllipse(QPointF(middle, slot.bottom() - 3), 2.5, 2.5)
        if point.failed:
            painter.setPen(QPen(muted, 2))
            y = slot.bottom() - 8
            painter.drawLine(QPointF(middle - 4, y - 4), QPointF(middle + 4, y + 4))
            painter.drawLine(QPointF(middle - 4, y + 4), QPointF(middle + 4, y - 4))
        if point.conflicts:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(CONFLICTS)
            painter.drawEllipse(QPointF(middle, slot.top() + 5), 4.5, 4.5)
            painter.setPen(CONFLICTS)
            painter.drawText(QRectF(middle + 6, slot.top() - 3, 30, 16), Qt.AlignmentFlag.AlignLeft, str(point.conflicts))

    def event(self, event: object) -> bool:
        if isinstance(event, QHelpEvent):
            i = self.slot_at(event.pos().x())
            if i is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.points[i].describe(), self)
            return True
        return super().event(event)  # type: ignore[arg-type]


def _short(n: int) -> str:
    """Return 1200 as "1.2k" and 3400000 as "3.4M" (the scale's top)."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(n)
