"""Conflicts: the open ones grouped by row, a side-by-side decision panel, and the history.

For the selected row there is one line per conflicting field with its base, the
value here, the other device's value and the automatic result; cells that differ
are tinted (this device blue, the other orange) and the automatic winner is bold.
Whole-row conflicts (delete/edit, create/create, constraint, and a diverged row
that one device deleted) get one decision for the row and one line per column. A
``diverged`` conflict (both devices hold the same version with different values:
a write one of them never captured) has no base and no later writer; its
automatic result keeps this device's value, and it is decided like the others. Each decision is a choice — automatic, keep
this device's, take the other's, or a custom value in an editor that fits the
column — applied with **Apply my choices** (Ctrl+Return), or **Accept automatic**
(Alt+A) for the whole row. Bulk actions decide every open conflict of a table, or
all of them, once the person confirms the count. The last decision can be undone
until a sync sends it (a line above the list offers it). The list can show one kind
of conflict only.
Tab leaves the list for the decisions, their editors and the buttons, in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from syncengine import Conflict

from .. import resources
from ..models.conflicts import KIND_LABELS, ConflictGroupsModel, Group, HistoryModel, kind_label
from ..ops import Ops
from ..services.constraints import Clash, find_clash
from ..services.device import DeviceService
from .bulk import confirm
from .decision import CHOICES, Choice, DecisionPanel
from .undo import UndoBar

__all__ = ["CHOICES", "Choice", "ConflictsPage", "DecisionPanel"]

class ConflictsPage(QWidget):
    """Open conflicts and their history."""

    countChanged = Signal(int)

    def __init__(self, service: DeviceService, ops: Ops, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.ops = service, ops
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 12)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        outer.addWidget(self.tabs)

        # -- open
        open_page = QWidget()
        open_layout = QVBoxLayout(open_page)
        open_layout.setContentsMargins(0, 8, 0, 0)
        bar = QHBoxLayout()
        self.scope = QComboBox()
        self.scope.addItem("All tables", None)
        for table in service.device.tables:
            self.scope.addItem(table, table)
        self.bulk_button = QPushButton("&Decide all…")
        resources.themed(self.bulk_button, "apply")
        self.bulk_button.setToolTip("Decide every open conflict in the chosen tables the same way")
        menu = QMenu(self.bulk_button)
        self.bulk_actions: dict[str, QAction] = {}
        for take, label in (("auto", "Accept the automatic results"), ("local", "Keep this device's values"), ("remote", "Take the other devices' values")):
            action = menu.addAction(label)
            action.triggered.connect(lambda _=False, t=take: self.decide_all(t))
            self.bulk_actions[take] = action
        self.bulk_button.setMenu(menu)
        self.kind = QComboBox()
        self.kind.addItem("All kinds", None)
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(kind, kind)
            self.kind.setItemData(self.kind.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        self.kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.kind.setToolTip("Show only the rows with a conflict of this kind")
        kind_caption = QLabel("&Kind")
        kind_caption.setBuddy(self.kind)
        scope_label = QLabel("Sc&ope")
        scope_label.setBuddy(self.scope)
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        bar.addWidget(kind_caption)
        bar.addWidget(self.kind)
        bar.addWidget(scope_label)
        bar.addWidget(self.scope)
        bar.addWidget(self.bulk_button)
        open_layout.addLayout(bar)
        self.undo_bar = UndoBar()
        open_layout.addWidget(self.undo_bar)

        self.model = ConflictGroupsModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(26)
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.setTabKeyNavigation(False)  # Tab leaves the list for the decisions (arrows move in it)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.view.horizontalHeader()
        for column, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch)):  # fmt: skip
            header.setSectionResizeMode(column, mode)
        self.view.setColumnHidden(0, len(service.device.tables) == 1)  # one table: the column says nothing
        self.view.setMinimumWidth(200)
        self.panel = DecisionPanel()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("conflictsSplitter")
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([300, 880])
        open_layout.addWidget(self.splitter, 1)
        self.tabs.addTab(open_page, resources.icon("conflicts"), "Open")

        # -- history: every column sorts (click its header; or the menu key / right click: Sort by…)
        self.history = HistoryModel(device_name=service.device_name)
        self.history.failed.connect(lambda exc: ops.failed.emit("Reading the conflict history", exc))
        self.history_view = QTableView()
        self.history_view.setModel(self.history)
        self.history_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_view.verticalHeader().hide()
        self.history_view.setShowGrid(False)
        self.history_view.setAlternatingRowColors(True)
        self.history_view.setTabKeyNavigation(False)  # Tab leaves the history too
        history_header = self.history_view.horizontalHeader()
        history_header.setStretchLastSection(True)
        for column, width in enumerate((150, 80, 140, 80, 90, 110, 150, 100)):
            history_header.resizeSection(column, width)
        history_header.setSortIndicator(self.history.sort_column, self.history.sort_order)
        self.history_view.setSortingEnabled(True)  # newest decision first until a header is clicked
        self.history_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.history_view.customContextMenuRequested.connect(self._history_menu)
        history_header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        history_header.customContextMenuRequested.connect(self._history_menu)
        for keys in ("Menu", "Shift+F10"):  # the keyboard's way to the same menu, at the current row
            sort_key = QShortcut(QKeySequence(keys), self.history_view, context=Qt.ShortcutContext.WidgetShortcut)
            sort_key.activated.connect(self._history_menu_here)
        self.history_menu: QMenu | None = None
        self.history.pageLoaded.connect(self._show_history_count)
        self.tabs.addTab(self.history_view, resources.icon("history"), "History")

        self.view.selectionModel().selectionChanged.connect(self._selected)
        self.panel.accept.connect(self.accept_automatic)
        self.panel.apply.connect(self.apply_choices)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self).activated.connect(self.panel.apply_button.click)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self).activated.connect(self._undo_key)
        self.undo_bar.undo.connect(self.undo_last)
        service.syncFinished.connect(self._after_sync)
        service.devicesChanged.connect(self._devices_read)
        self.kind.currentIndexChanged.connect(self.filter_kind)
        service.conflictsChanged.connect(self.schedule_reload)
        self._reloading = False
        self._again = False
        self._quiet = False
        self._wanted: tuple[str, tuple[Any, ...]] | None = None  # the row to select at the next reload

    # -- loading --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Reset the list without showing the empty selection in between (the panel keeps its cursor)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def schedule_reload(self) -> None:
        self.ops.start("Reading conflicts", self.reload)

    async def reload(self) -> None:
        """Read open conflicts and the history again; keep the selected row if it is still open."""
        if self._reloading:
            self._again = True
            return
        self._reloading = True
        try:
            while True:
                self._again = False
                await self._reload_once()
                if not self._again:
                    break
        finally:
            self._reloading = False

    async def _reload_once(self) -> None:
        keep = self.selected_group()
        keep_row = self.view.currentIndex().row()
        open_ = await self.service.conflicts()
        labels = await self.service.row_labels(list({(c.table, tuple(c.pk)) for c in open_}))
        with self._quietly():
            self.model.set_conflicts(open_, labels)
        self.history.labels.clear()  # names are read again with the pages: a row may have been renamed
        self.history.set_source(self._history_page)
        await self.history.load_more()
        n = self.model.open_count
        self._show_count()
        self.bulk_button.setEnabled(n > 0)
        self.tabs.setTabText(0, f"Open ({n})")
        self._show_history_count()
        self.countChanged.emit(n)
        await self._reselect(keep, keep_row)

    def _show_count(self) -> None:
        n, rows = self.model.open_count, self.model.rowCount()
        in_rows = f"in {rows} row{'s' if rows != 1 else ''}"
        if not n:
            self.count_label.setText("No open conflicts")
        elif self.model.kind is None:
            self.count_label.setText(f"{n} open conflict{'s' if n != 1 else ''} {in_rows}")
        else:
            self.count_label.setText(f"{self.model.shown_count} of {n} open conflicts ({kind_label(self.model.kind)}) {in_rows}")

    @asyncSlot(int)
    async def filter_kind(self, _index: int) -> None:
        """Show only the rows with a conflict of the chosen kind."""
        keep, keep_row = self.selected_group(), self.view.currentIndex().row()
        with self._quietly():
            self.model.set_kind(self.kind.currentData())
        self._show_count()
        await self._reselect(keep, keep_row)

    async def _reselect(self, keep: Group | None, keep_row: int) -> None:
        """Select ``keep`` again if it is shown, else the row at its place, and show its conflicts.

        A row an undo just opened again (``_wanted``) comes first, once it is listed.
        """
        target = 0
        places = {(g.table, g.pk): row for row, g in enumerate(self.model.items())}
        if self._wanted in places:
            target, self._wanted = places[self._wanted], None
        elif keep is not None:
            target = places.get((keep.table, keep.pk), min(max(keep_row, 0), self.model.rowCount() - 1))
        if self.model.rowCount():
            self.view.selectionModel().setCurrentIndex(
                self.model.index(target, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )
            await self._show_selected()
        elif self.model.open_count:
            self.panel.set_empty("No open conflict of this kind. Choose All kinds to see the others.")
        else:
            self.panel.set_empty("Nothing to decide. Conflicts held for review appear here after a sync.")

    async def _history_page(self, offset: int, _last: Conflict | None, limit: int) -> list[Conflict]:
        found = await self.service.decided(offset=offset, limit=limit)
        unnamed = list({(c.table, tuple(c.pk)) for c in found} - set(self.history.labels))
        if unnamed:  # their current names, from the tables (a deleted row keeps the one its conflict carries)
            self.history.labels.update(await self.service.row_labels(unnamed))
        return found

    def _show_history_count(self, *_: Any) -> None:
        n, history = self.history.rowCount(), self.history
        self.tabs.setTabText(1, f"History ({n:,}{'+' if n and not history.exhausted else ''})")
        self.tabs.setTabToolTip(
            1,
            f"The newest {n:,} decided conflicts: sorting orders these, not the older ones"
            if history.truncated
            else "Decided conflicts, the newest decision first. Click a column's header to sort by it "
            "(again to reverse), or press the menu key in the list: Sort by…",
        )

    def _history_menu(self, pos: QPoint) -> QMenu:
        """Offer a sort by each column of the history (the way to sort from the keyboard: the menu key)."""
        if self.history_menu is not None:
            self.history_menu.close()
            self.history_menu.deleteLater()
        menu = QMenu(self.history_view)
        menu.setObjectName("historySortMenu")
        header = self.history_view.horizontalHeader()
        current, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        for column, title in enumerate(self.history.headers):
            arrow = ""
            if column == current:
                arrow = " (descending)" if order == Qt.SortOrder.DescendingOrder else " (ascending)"
            action = menu.addAction(f"Sort by {title}{arrow}")
            action.setCheckable(True)
            action.setChecked(column == current)
            action.triggered.connect(lambda _=False, c=column: self.sort_history(c))
        self.history_menu = menu
        menu.popup(self.history_view.viewport().mapToGlobal(pos))
        return menu

    def _history_menu_here(self) -> None:
        rect = self.history_view.visualRect(self.history_view.currentIndex())
        self._history_menu(rect.bottomLeft() if rect.isValid() else self.history_view.viewport().rect().topLeft())

    def sort_history(self, column: int) -> None:
        """Sort the history by ``column``: dates newest first, the rest A→Z; the same column again reverses it."""
        header = self.history_view.horizontalHeader()
        if header.sortIndicatorSection() == column:
            order = Qt.SortOrder.AscendingOrder if header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder else Qt.SortOrder.DescendingOrder
        else:
            order = Qt.SortOrder(self.history.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.InitialSortOrderRole))
        header.setSortIndicator(column, order)  # the view sorts the model

    def selected_group(self) -> Group | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.row_item(rows[0].row()) if rows else None

    def _devices_read(self, _devices: Any) -> None:
        if self.history.rowCount():  # By names the devices that decided
            self.history.dataChanged.emit(self.history.index(0, 7), self.history.index(self.history.rowCount() - 1, 7))
        if self.selected_group() is not None:  # its header names the other devices, known now
            self._show_soon()

    def _selected(self, *_: Any) -> None:
        if not self._quiet:  # a reload clears the selection, then selects the row again itself
            self._show_soon()

    @asyncSlot()
    async def _show_soon(self) -> None:
        await self._show_selected()

    async def _show_selected(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            self.panel.set_empty()
            return
        group = self.model.row_item(rows[0].row())
        conflicts = self.model.conflicts_of(rows[0].row())
        synced = group.table in self.service.device.tables
        columns = await self.service.columns(group.table) if synced else {}
        pks = await self.service.primary_key(group.table) if synced else []
        clashes = await self._clashes(conflicts) if synced else {}
        if self.selected_group() is not group:
            return  # another row was picked meanwhile
        fresh = self.panel.show_group(group, conflicts, columns, pks, self.service.device_name, clashes)
        chain = [self.view, *self.panel.tab_chain()]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)
        if fresh and not self.view.hasFocus():  # arrows in the list keep moving in the list; typing is not disturbed
            self.panel.focus_clash()

    async def _clashes(self, conflicts: list[Conflict]) -> dict[int, Clash]:
        """What each constraint conflict clashes with (none found: an empty answer, never an error)."""
        found: dict[int, Clash] = {}
        for conflict in conflicts:
            if conflict.kind != "constraint":
                continue
            try:
                clash = await self.service.run(find_clash, self.service.device, conflict)
            except Exception:  # only a hint: the conflict is shown without it
                clash = None
            if clash is not None:
                found[conflict.id] = clash
        return found

    # -- deciding ----------------------------------------------------------------------------

    @asyncSlot()
    async def accept_automatic(self) -> None:
        choices = [c for c in self.panel.choices if c.conflict.kind != "constraint"]
        decisions = [(c.conflict.id, "auto", None, False) for c in choices]
        name = self._shown_name()
        decided = await self.ops.run(
            "Accepting the automatic result",
            lambda: self.service.resolve_each(decisions),
            [self.panel.accept_button, self.panel.apply_button],
        )
        self._offer_undo(decided, name)

    @asyncSlot()
    async def apply_choices(self) -> None:
        decisions = self.panel.decisions()
        name, shown = self._shown_name(), self.panel.choices_conflicts()
        decided = await self.ops.run(
            "Applying your choices", lambda: self.service.resolve_each(decisions), [self.panel.accept_button, self.panel.apply_button]
        )
        if decided is None:  # refused part-way: the ones decided before the refusal can still be undone
            still_open = {c.id for c in await self.service.conflicts()}
            decided = [c for c in shown if c.id not in still_open]
        self._offer_undo(decided, name)

    @asyncSlot(str)
    async def decide_all(self, take: str) -> None:
        """Decide every open conflict of the chosen table the same way, once the person confirms the count."""
        table = self.scope.currentData()
        conflicts = [c for c in self.model.cache.values() if table is None or c.table == table]
        if not conflicts or not await confirm(self, take, conflicts, table):
            return
        result = await self.ops.run(
            "Deciding conflicts", lambda: self.service.resolve_bulk(take, table), [self.bulk_button, self.panel.apply_button]
        )
        if result is None:
            return
        still_open = {c.id for c in await self.service.conflicts()}
        decided = [c for c in conflicts if c.id not in still_open]
        self._offer_undo(decided, bulk=True)
        if result[1]:
            self.ops.failed.emit(
                "Some conflicts were left open",
                f"{result[1]} {'conflict was' if result[1] == 1 else 'conflicts were'} left open: a constraint conflict "
                "has no automatic result. Decide them one by one.",
            )

    # -- undoing -------------------------------------------------------------------------------

    def _shown_name(self) -> str:
        group = self.selected_group()
        return self.model.label_of(group.table, group.pk) if group is not None else ""

    def _offer_undo(self, decided: list[Conflict] | None, name: str = "", *, bulk: bool = False) -> None:
        """Say what was just decided (``name``: its row's), with Undo (nothing decided: the line stays as it was)."""
        if not decided:
            return
        first = decided[0]
        if bulk:
            text = f"Decided {len(decided)} conflict{'s' if len(decided) != 1 else ''} at once."
        elif len(decided) == 1:
            text = f"Decided {name} ({first.field or 'whole row'})."
        else:
            text = f"Decided {len(decided)} conflicts of {name}."
        self.undo_bar.offer([c.id for c in decided], text + " You can undo it until the next sync sends it.")

    def _undo_key(self) -> None:
        if self.undo_bar.offering:
            self.undo_last()

    @asyncSlot()
    async def undo_last(self) -> None:
        """Take the last decision back, or say plainly why it can no longer be."""
        ids = list(self.undo_bar.ids)
        if not ids:
            return
        problem = await self.service.run(self.service.device.undo_problem, ids)
        if problem is not None:
            self.undo_bar.say(f"The last decision can no longer be undone: {problem}.")
            return
        done = await self.ops.run("Undoing the last decision", lambda: self._undo(ids), [self.undo_bar.button])
        if done is not None:
            n = len(done)
            self.undo_bar.say(f"Undone: {'the conflict is' if n == 1 else f'{n} conflicts are'} open again.")
            self._wanted = (done[0].table, tuple(done[0].pk))
            await self.reload()

    async def _undo(self, ids: list[int]) -> list[Conflict]:
        try:
            return await self.service.run(self.service.device.undo_decisions, ids)
        finally:
            self.service.logChanged.emit()
            with contextlib.suppress(Exception):  # the counts are refreshed again at the next change
                await self.service.refresh_status()

    @asyncSlot(object, object)
    async def _after_sync(self, _report: Any, _error: Any) -> None:
        """A sync may have sent the last decision: then say so, instead of offering an Undo that would fail."""
        if not self.undo_bar.offering:
            return
        ids = list(self.undo_bar.ids)
        problem = await self.service.run(self.service.device.undo_problem, ids)
        if problem is not None and self.undo_bar.ids == ids:
            self.undo_bar.say(f"The last decision can no longer be undone: {problem}.")
