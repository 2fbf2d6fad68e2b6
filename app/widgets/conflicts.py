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
all of them. The list can show one kind of conflict only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from syncengine import Conflict

from .. import format as fmt
from .. import resources
from ..models.conflicts import KIND_EXPLANATIONS, KIND_LABELS, ConflictGroupsModel, Group, HistoryModel, kind_label
from ..ops import Ops
from ..services.device import DeviceService
from .editors import ValueEditor, make_editor

CHOICES = [("auto", "Automatic result"), ("local", "Keep this device's"), ("remote", "Take theirs"), ("custom", "Custom value")]
_DELETED = "(deleted)"


@dataclass(slots=True)
class Choice:
    """The decision controls of one conflict."""

    conflict: Conflict
    combo: QComboBox
    editors: dict[str, ValueEditor] = field(default_factory=dict)  # column → editor ("" for a field conflict)
    start: dict[str, Any] = field(default_factory=dict)  # the values the editors started from

    @property
    def take(self) -> str:
        return str(self.combo.currentData())

    def decision(self) -> tuple[int, str | None, Any, bool]:
        """Return (id, take, value, custom) for the service."""
        if self.take != "custom":
            return (self.conflict.id, self.take, None, False)
        if self.conflict.field is not None:
            return (self.conflict.id, None, self.editors[""].value(), True)
        values = {column: editor.value() for column, editor in self.editors.items()}
        if self.conflict.kind == "constraint":  # only what the person corrected
            values = {c: v for c, v in values.items() if fmt.value(v) != fmt.value(self.start.get(c))}
        return (self.conflict.id, None, values, True)


def _cell(text: str, diff: str = "same", winner: bool = False, tooltip: str = "") -> QLabel:
    label = QLabel(text if len(text) <= 26 else text[:25] + "…")
    label.setMaximumWidth(220)
    label.setProperty("diff", diff)
    label.setProperty("winner", "true" if winner else "false")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setToolTip(tooltip or text)
    label.setMinimumWidth(70)
    return label


def _why(conflict: Conflict) -> str:
    """Return the conflict's kind for people, with the reason it carries or what the kind means."""
    said = conflict.reason or KIND_EXPLANATIONS.get(conflict.kind)
    return kind_label(conflict.kind) + (f": {said}" if said else "")


def _header(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("cardTitle")
    return label


class DecisionPanel(QWidget):
    """The conflicts of one row, side by side, with a choice for each."""

    accept = Signal()
    apply = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 0, 0, 0)
        self.title = QLabel("No conflict selected")
        self.title.setObjectName("heading")
        self.subtitle = QLabel("Pick a row on the left to see what differs.")
        self.subtitle.setObjectName("muted")
        self.subtitle.setWordWrap(True)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(6)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.grid_host)
        legend = QLabel(
            '<span style="background: rgba(47,111,222,0.25)">&nbsp;this device&nbsp;</span> '
            '<span style="background: rgba(214,120,30,0.3)">&nbsp;other device&nbsp;</span> '
            "<b>bold</b>: the automatic result"
        )
        legend.setObjectName("muted")
        buttons = QHBoxLayout()
        self.accept_button = QPushButton("&Accept automatic")
        resources.themed(self.accept_button, "accept")
        self.accept_button.setToolTip("Decide every conflict of this row with its automatic result (Alt+A)")
        self.apply_button = QPushButton("Apply &my choices")
        resources.themed(self.apply_button, "apply")
        self.apply_button.setToolTip("Decide each conflict of this row as chosen (Ctrl+Return)")
        self.apply_button.setDefault(True)
        buttons.addWidget(legend, 1)
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.apply_button)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        self.accept_button.clicked.connect(self.accept)
        self.apply_button.clicked.connect(self.apply)
        self.choices: list[Choice] = []
        self.set_empty()

    def set_empty(self, text: str = "Pick a row on the left to see what differs.") -> None:
        self._clear()
        self.title.setText("No conflict selected")
        self.subtitle.setText(text)
        self.accept_button.setEnabled(False)
        self.apply_button.setEnabled(False)

    def _clear(self) -> None:
        self.choices = []
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    def show_group(
        self,
        group: Group,
        conflicts: list[Conflict],
        columns: dict[str, sa.types.TypeEngine[Any]],
        pk_columns: list[str],
        device_name: Any,
    ) -> None:
        """Lay out the conflicts of one row."""
        self._clear()
        self.title.setText(f"{group.label or fmt.key(group.pk)}  ·  {group.table}")
        self.subtitle.setText(
            "; ".join(dict.fromkeys(_why(c) for c in conflicts)) + f".  Key {fmt.key(group.pk)}."
        )
        remote_devices = {r.device_id for c in conflicts for r in c.remotes}
        theirs = ", ".join(sorted(device_name(d) for d in remote_devices)) or "other device"
        heads = ("Field", "Base", "This device", theirs, "Automatic", "Decision", "Custom value")
        for column, text in enumerate(heads):
            self.grid.addWidget(_header(text), 0, column)
        row = 1
        for conflict in conflicts:
            row = self._add_field(conflict, row, columns, theirs) if conflict.field else self._add_row(conflict, row, columns, pk_columns, theirs)
        self.grid.setRowStretch(row, 1)
        self.grid.setColumnStretch(6, 1)
        self.accept_button.setEnabled(any(c.kind != "constraint" for c in conflicts))
        self.apply_button.setEnabled(True)
        if self.choices:
            self.setTabOrder(self.choices[0].combo, self.choices[0].combo)

    def _combo(self, conflict: Conflict, theirs: str) -> QComboBox:
        combo = QComboBox()
        for key, label in CHOICES:
            combo.addItem(label.replace("theirs", f"{theirs}'s"), key)
        if conflict.kind == "constraint":
            model = combo.model()
            model.item(0).setEnabled(False)  # type: ignore[attr-defined]
            combo.setItemData(0, "A constraint conflict has no automatic result", Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(3)
        elif conflict.kind == "diverged":
            combo.setItemData(0, "Both sides hold the same version: the automatic result keeps this device's value", Qt.ItemDataRole.ToolTipRole)
        combo.setAccessibleName(f"Decision for {conflict.field or 'the row'}")
        return combo

    def _add_field(self, conflict: Conflict, row: int, columns: dict[str, Any], theirs: str) -> int:
        local, remote, auto = conflict.local, conflict.remote, conflict.auto
        differ = local != remote
        self.grid.addWidget(QLabel(f"<b>{conflict.field}</b>"), row, 0)
        if conflict.kind == "diverged":  # no base: both sides hold one version
            self.grid.addWidget(_cell("same version", tooltip="Both devices hold this field under the same version"), row, 1)
        else:
            self.grid.addWidget(_cell(fmt.value(conflict.base)), row, 1)
        self.grid.addWidget(_cell(fmt.value(local), "local" if differ else "same", differ and auto == local), row, 2)
        self.grid.addWidget(_cell(fmt.value(remote), "remote" if differ else "same", differ and auto == remote), row, 3)
        self.grid.addWidget(_cell(fmt.value(auto), winner=True), row, 4)
        combo = self._combo(conflict, theirs)
        editor = make_editor(columns.get(conflict.field or ""), auto if auto is not None else local)
        choice = Choice(conflict, combo, {"": editor}, {"": auto})
        self.grid.addWidget(combo, row, 5)
        self.grid.addWidget(editor.widget, row, 6)
        self._link(choice)
        return row + 1

    def _add_row(self, conflict: Conflict, row: int, columns: dict[str, Any], pk_columns: list[str], theirs: str) -> int:
        local, remote, auto = conflict.local, conflict.remote, conflict.auto
        base = conflict.base if isinstance(conflict.base, dict) else None
        self.grid.addWidget(QLabel(f"<b>whole row</b> ({conflict.kind})"), row, 0)
        self.grid.addWidget(_cell("same version" if conflict.kind == "diverged" else ("exists" if base else fmt.DASH)), row, 1)
        missing = "held" if conflict.kind == "constraint" else _DELETED
        self.grid.addWidget(_cell("exists" if local is not None else missing, "local"), row, 2)
        self.grid.addWidget(_cell("exists" if remote is not None else _DELETED, "remote"), row, 3)
        auto_text = "none" if conflict.kind == "constraint" else ("keep the row" if auto is not None else "delete the row")
        self.grid.addWidget(_cell(auto_text, winner=True), row, 4)
        combo = self._combo(conflict, theirs)
        self.grid.addWidget(combo, row, 5)
        start_row = remote if isinstance(remote, dict) else (local if isinstance(local, dict) else {})
        choice = Choice(conflict, combo, {}, dict(start_row))
        names = list(dict.fromkeys([*(columns or {}), *(start_row or {})]))
        row += 1
        for name in names:
            lv = local.get(name) if isinstance(local, dict) else None
            rv = remote.get(name) if isinstance(remote, dict) else None
            av = auto.get(name) if isinstance(auto, dict) else None
            differ = (local is None) != (remote is None) or lv != rv
            self.grid.addWidget(QLabel(f"    {name}"), row, 0)
            self.grid.addWidget(_cell(fmt.value(base.get(name)) if base else ""), row, 1)
            self.grid.addWidget(_cell(fmt.value(lv) if local is not None else "", "local" if differ and local is not None else "same"), row, 2)
            self.grid.addWidget(_cell(fmt.value(rv) if remote is not None else "", "remote" if differ and remote is not None else "same"), row, 3)
            self.grid.addWidget(_cell(fmt.value(av) if auto is not None else "", winner=auto is not None), row, 4)
            if name in pk_columns:
                self.grid.addWidget(_cell(fmt.value(start_row.get(name)), tooltip="the key cannot change"), row, 6)
            else:
                editor = make_editor(columns.get(name), start_row.get(name))
                choice.editors[name] = editor
                self.grid.addWidget(editor.widget, row, 6)
            row += 1
        self._link(choice)
        return row

    def _link(self, choice: Choice) -> None:
        def update() -> None:
            custom = choice.take == "custom"
            for editor in choice.editors.values():
                editor.widget.setEnabled(custom)

        choice.combo.currentIndexChanged.connect(update)
        update()
        self.choices.append(choice)

    def decisions(self) -> list[tuple[int, str | None, Any, bool]]:
        return [c.decision() for c in self.choices]


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

        self.model = ConflictGroupsModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(26)
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((80, 150, 110)):
            self.view.horizontalHeader().resizeSection(column, width)
        self.panel = DecisionPanel()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("conflictsSplitter")
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([360, 820])
        open_layout.addWidget(self.splitter, 1)
        self.tabs.addTab(open_page, resources.icon("conflicts"), "Open")

        # -- history
        self.history = HistoryModel(device_name=service.device_name)
        self.history.failed.connect(lambda exc: ops.failed.emit("Reading the conflict history", exc))
        self.history_view = QTableView()
        self.history_view.setModel(self.history)
        self.history_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_view.verticalHeader().hide()
        self.history_view.setShowGrid(False)
        self.history_view.setAlternatingRowColors(True)
        self.history_view.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((150, 80, 140, 80, 90, 110, 150, 100)):
            self.history_view.horizontalHeader().resizeSection(column, width)
        self.tabs.addTab(self.history_view, resources.icon("history"), "History")

        self.view.selectionModel().selectionChanged.connect(self._selected)
        self.panel.accept.connect(self.accept_automatic)
        self.panel.apply.connect(self.apply_choices)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self).activated.connect(self.panel.apply_button.click)
        self.kind.currentIndexChanged.connect(self.filter_kind)
        service.conflictsChanged.connect(self.schedule_reload)
        self._reloading = False
        self._again = False

    # -- loading --------------------------------------------------------------------------

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
        self.model.set_conflicts(open_, labels)
        self.history.set_source(self._history_page)
        await self.history.load_more()
        n = self.model.open_count
        self._show_count()
        self.bulk_button.setEnabled(n > 0)
        self.tabs.setTabText(0, f"Open ({n})")
        self.tabs.setTabText(1, f"History ({self.history.rowCount()}{'' if self.history.exhausted else '+'})")
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
        self.model.set_kind(self.kind.currentData())
        self._show_count()
        await self._reselect(keep, keep_row)

    async def _reselect(self, keep: Group | None, keep_row: int) -> None:
        """Select ``keep`` again if it is shown, else the row at its place, and show its conflicts."""
        target = 0
        if keep is not None:
            for row, group in enumerate(self.model.items()):
                if (group.table, group.pk) == (keep.table, keep.pk):
                    target = row
                    break
            else:
                target = min(max(keep_row, 0), self.model.rowCount() - 1)
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
        return await self.service.decided(offset=offset, limit=limit)

    def selected_group(self) -> Group | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.row_item(rows[0].row()) if rows else None

    @asyncSlot(QItemSelection, QItemSelection)
    async def _selected(self, *_: Any) -> None:
        await self._show_selected()

    async def _show_selected(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            self.panel.set_empty()
            return
        group = self.model.row_item(rows[0].row())
        conflicts = self.model.conflicts_of(rows[0].row())
        columns = await self.service.columns(group.table) if group.table in self.service.device.tables else {}
        pks = await self.service.primary_key(group.table) if group.table in self.service.device.tables else []
        if self.selected_group() is group:
            self.panel.show_group(group, conflicts, columns, pks, self.service.device_name)

    # -- deciding ----------------------------------------------------------------------------

    @asyncSlot()
    async def accept_automatic(self) -> None:
        choices = [c for c in self.panel.choices if c.conflict.kind != "constraint"]
        decisions = [(c.conflict.id, "auto", None, False) for c in choices]
        await self.ops.run(
            "Accepting the automatic result",
            lambda: self.service.resolve_each(decisions),
            [self.panel.accept_button, self.panel.apply_button],
        )

    @asyncSlot()
    async def apply_choices(self) -> None:
        decisions = self.panel.decisions()
        await self.ops.run(
            "Applying your choices", lambda: self.service.resolve_each(decisions), [self.panel.accept_button, self.panel.apply_button]
        )

    @asyncSlot(str)
    async def decide_all(self, take: str) -> None:
        table = self.scope.currentData()
        result = await self.ops.run(
            "Deciding conflicts", lambda: self.service.resolve_bulk(take, table), [self.bulk_button, self.panel.apply_button]
        )
        if result is not None and result[1]:
            self.ops.failed.emit(
                "Some conflicts were left open",
                f"{result[1]} conflict(s) cannot take that decision (a constraint conflict has no automatic result); decide them one by one.",
            )
