"""The decision panel: the conflicts of one row side by side, with a choice for each.

One line per conflicting field (base, this device, the other device, the
automatic result, a decision, a custom value), or for a whole-row conflict one
decision for the row and one line per column. Values elide to the room there is
and show their full text on hover, so nothing is cut at the window's smallest
size. A constraint conflict shows the local row in the way next to the incoming
one, with the clashing column marked, and offers only choices that can succeed.
The panel keeps what a person chose and typed when the same row is shown again
(after a refusal, say), and knows the order Tab walks through its controls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from syncengine import Conflict

from .. import format as fmt
from .. import resources
from ..models.conflicts import KIND_EXPLANATIONS, Group, kind_label
from ..services.constraints import Clash
from .editors import ValueEditor, make_editor
from .elided import ElidedLabel

CHOICES = [("auto", "Automatic result"), ("local", "Keep this device's"), ("remote", "Take theirs"), ("custom", "Custom value")]
HEADS = ("Field", "Base", "This device", "theirs", "Automatic", "Decision", "Custom value")
_DELETED = "(deleted)"
_WHOLE = 4000
"""Characters of a value a cell keeps (it elides to its width itself; the tooltip shows them all)."""
_CLASH_STYLE = "border: 2px solid #d9534f; border-radius: 3px;"

Decision = tuple[int, str | None, Any, bool]
"""(conflict id, take, value, custom): what the service decides."""


@dataclass(slots=True)
class Choice:
    """The decision controls of one conflict."""

    conflict: Conflict
    combo: QComboBox
    editors: dict[str, ValueEditor] = field(default_factory=dict)  # column → editor ("" for a field conflict)
    start: dict[str, Any] = field(default_factory=dict)  # the values the editors started from
    shown: dict[str, Any] = field(default_factory=dict)  # what each editor showed before anything was typed

    @property
    def take(self) -> str:
        return str(self.combo.currentData())

    def decision(self) -> Decision:
        """Return (id, take, value, custom) for the service."""
        if self.take != "custom":
            return (self.conflict.id, self.take, None, False)
        if self.conflict.field is not None:
            return (self.conflict.id, None, self.editors[""].value(), True)
        values = {column: editor.value() for column, editor in self.editors.items()}
        if self.conflict.kind == "constraint":  # only what the person corrected
            values = {c: v for c, v in values.items() if fmt.value(v, limit=_WHOLE) != fmt.value(self.start.get(c), limit=_WHOLE)}
        return (self.conflict.id, None, values, True)

    def kept(self) -> tuple[str, dict[str, Any]]:
        """What the person chose and typed (only what they changed), to be shown again."""
        typed = {column: editor.value() for column, editor in self.editors.items()}
        return self.take, {c: v for c, v in typed.items() if c not in self.shown or self.shown[c] != v}

    def restore(self, kept: tuple[str, dict[str, Any]]) -> None:
        take, typed = kept
        index = self.combo.findData(take)
        if index >= 0 and self.combo.model().flags(self.combo.model().index(index, 0)) & Qt.ItemFlag.ItemIsEnabled:
            self.combo.setCurrentIndex(index)
        for column, value in typed.items():
            if column in self.editors:
                self.editors[column].set_value(value)

    def widgets(self) -> list[QWidget]:
        """Its controls in the order Tab visits them."""
        return [self.combo, *(e.widget for e in self.editors.values())]


def _cell(text: str, diff: str = "same", winner: bool = False, tooltip: str = "") -> ElidedLabel:
    label = ElidedLabel(text, tooltip=tooltip)
    label.setProperty("diff", diff)
    label.setProperty("winner", "true" if winner else "false")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _word(text: str, diff: str = "same", winner: bool = False, tooltip: str = "") -> QLabel:
    """A short word (exists, deleted, keep the row) that is never elided."""
    label = QLabel(text)
    label.setProperty("diff", diff)
    label.setProperty("winner", "true" if winner else "false")
    label.setToolTip(tooltip)
    label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
    return label


def _why(conflict: Conflict) -> str:
    """Return the conflict's kind for people, with the reason it carries or what the kind means."""
    said = conflict.reason or KIND_EXPLANATIONS.get(conflict.kind)
    return kind_label(conflict.kind) + (f": {said}" if said else "")


def _header(text: str) -> ElidedLabel:
    label = ElidedLabel(text)
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
        self.title = ElidedLabel("No conflict selected")
        self.title.setObjectName("heading")
        self.subtitle = QLabel("Pick a row on the left to see what differs.")
        self.subtitle.setObjectName("muted")
        self.subtitle.setWordWrap(True)
        self.scroller = QScrollArea()
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)  # only past the smallest window
        self._new_grid()
        legend = QLabel(
            '<span style="background: rgba(47,111,222,0.25)">&nbsp;this device&nbsp;</span> '
            '<span style="background: rgba(214,120,30,0.3)">&nbsp;other device&nbsp;</span> '
            "<b>bold</b>: the automatic result"
        )
        legend.setObjectName("muted")
        legend.setWordWrap(True)
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
        layout.addWidget(self.scroller, 1)
        layout.addLayout(buttons)
        self.accept_button.clicked.connect(self.accept)
        self.apply_button.clicked.connect(self.apply)
        self.choices: list[Choice] = []
        self.clashes: dict[int, Clash] = {}
        self.shown: tuple[str, tuple[Any, ...]] | None = None
        self._memory: dict[int, tuple[str, dict[str, Any]]] = {}  # conflict id → what was chosen and typed
        self._theirs = ""
        self.set_empty()

    def _new_grid(self) -> None:
        """A fresh grid, not shown yet (rows and stretches of the previous row must not carry over)."""
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(6)

    def _install(self) -> None:
        """Show the grid built since :meth:`_new_grid` in place of the previous one.

        Filled before it is shown, its controls are visible (and take Tab) at once;
        controls added to a shown widget would be shown only at the next event loop.
        """
        old = self.scroller.takeWidget()
        if old is not None:
            old.deleteLater()
        self.scroller.setWidget(self.grid_host)
        self.grid_host.show()

    def set_empty(self, text: str = "Pick a row on the left to see what differs.") -> None:
        self._memory.update({c.conflict.id: c.kept() for c in self.choices})
        self.choices = []
        self.shown = None
        self._new_grid()
        self._install()
        self.title.setText("No conflict selected")
        self.subtitle.setText(text)
        self.accept_button.setEnabled(False)
        self.apply_button.setEnabled(False)

    def show_group(
        self,
        group: Group,
        conflicts: list[Conflict],
        columns: Mapping[str, sa.types.TypeEngine[Any]],
        pk_columns: list[str],
        device_name: Callable[[str | None], str],
        clashes: Mapping[int, Clash] | None = None,
    ) -> bool:
        """Lay out the conflicts of one row; what was chosen and typed for the same conflicts stays.

        Shown again unchanged (a reload after a refusal, say), the panel stays as it
        is, the cursor where it was. Returns whether another row than before is shown.
        """
        key = (group.table, tuple(group.pk))
        remote_devices = {r.device_id for c in conflicts for r in c.remotes}
        theirs = ", ".join(sorted(device_name(d) for d in remote_devices)) or "other device"
        same = self.shown == key and [c.conflict for c in self.choices] == list(conflicts) and self._theirs == theirs
        if same and self.clashes == dict(clashes or {}):
            self.title.setText(f"{group.label or fmt.key(group.pk)}  ·  {group.table}")
            return False
        fresh = self.shown != key
        self._memory.update({c.conflict.id: c.kept() for c in self.choices})
        focus = self._focused()
        self.choices = []
        self.clashes = dict(clashes or {})
        self.shown = key
        self._new_grid()
        self.title.setText(f"{group.label or fmt.key(group.pk)}  ·  {group.table}")
        said = list(dict.fromkeys(_why(c) for c in conflicts))
        said += [f"{clash.sentence[:1].upper()}{clash.sentence[1:]}" for clash in self.clashes.values()]
        self.subtitle.setText("; ".join(said) + f".  Key {fmt.key(group.pk)}.")
        self._theirs = theirs  # the other devices' names (known once the device list is read)
        for column, text in enumerate(HEADS):
            self.grid.addWidget(_header(theirs if text == "theirs" else text), 0, column)
        row = 1
        for conflict in conflicts:
            if conflict.field:
                row = self._add_field(conflict, row, columns, theirs)
            else:
                row = self._add_row(conflict, row, columns, pk_columns, theirs)
        self.grid.setColumnStretch(1, 1)
        for column in (2, 3, 4):
            self.grid.setColumnStretch(column, 2)
        self.grid.setColumnStretch(6, 3)
        self.grid.setRowStretch(row, 1)
        self._install()
        for choice in self.choices:
            if choice.conflict.id in self._memory:
                choice.restore(self._memory[choice.conflict.id])
        if focus is not None:
            self._refocus(*focus)
        self.accept_button.setEnabled(any(c.kind != "constraint" for c in conflicts))
        self.apply_button.setEnabled(True)
        return fresh

    def _combo(self, conflict: Conflict, theirs: str) -> QComboBox:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)
        for key, label in CHOICES:
            combo.addItem(label.replace("theirs", f"{theirs}'s"), key)
            combo.setItemData(combo.count() - 1, combo.itemText(combo.count() - 1), Qt.ItemDataRole.ToolTipRole)
        if conflict.kind == "constraint":
            self._constraint_choices(conflict, combo)
        elif conflict.kind == "diverged":
            combo.setItemData(0, "Both sides hold the same version: the automatic result keeps this device's value", Qt.ItemDataRole.ToolTipRole)
        combo.setAccessibleName(f"Decision for {conflict.field or 'the row'}")
        return combo

    def _constraint_choices(self, conflict: Conflict, combo: QComboBox) -> None:
        model = combo.model()
        model.item(0).setEnabled(False)  # type: ignore[attr-defined]
        combo.setItemData(0, "A constraint conflict has no automatic result", Qt.ItemDataRole.ToolTipRole)
        if conflict.local is None:  # their row is new here: keeping this device's means not adding it
            combo.setItemText(1, "Keep this device's (drop theirs)")
            combo.setItemData(1, "Do not add their row, here or on any device", Qt.ItemDataRole.ToolTipRole)
        clash = self.clashes.get(conflict.id)
        if clash is not None and not clash.remote_can_apply:
            model.item(2).setEnabled(False)  # type: ignore[attr-defined]
            combo.setItemData(2, f"It cannot apply while {clash.sentence}", Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(3)

    def _add_field(self, conflict: Conflict, row: int, columns: Mapping[str, Any], theirs: str) -> int:
        local, remote, auto = conflict.local, conflict.remote, conflict.auto
        differ = local != remote
        name = _cell(str(conflict.field))
        name.setStyleSheet("font-weight: 600;")
        self.grid.addWidget(name, row, 0)
        if conflict.kind == "diverged":  # no base: both sides hold one version
            self.grid.addWidget(_cell("same version", tooltip="Both devices hold this field under the same version"), row, 1)
        else:
            self.grid.addWidget(_cell(fmt.value(conflict.base, limit=_WHOLE)), row, 1)
        self.grid.addWidget(_cell(fmt.value(local, limit=_WHOLE), "local" if differ else "same", differ and auto == local), row, 2)
        self.grid.addWidget(_cell(fmt.value(remote, limit=_WHOLE), "remote" if differ else "same", differ and auto == remote), row, 3)
        self.grid.addWidget(_cell(fmt.value(auto, limit=_WHOLE), winner=True), row, 4)
        combo = self._combo(conflict, theirs)
        editor = make_editor(columns.get(conflict.field or ""), auto if auto is not None else local)
        _shrinkable(editor.widget)
        editor.widget.setAccessibleName(f"Custom value for {conflict.field}")
        choice = Choice(conflict, combo, {"": editor}, {"": auto})
        self.grid.addWidget(combo, row, 5)
        self.grid.addWidget(editor.widget, row, 6)
        self._link(choice)
        return row + 1

    def _add_row(self, conflict: Conflict, row: int, columns: Mapping[str, Any], pk_columns: list[str], theirs: str) -> int:
        clash = self.clashes.get(conflict.id)
        local = conflict.local if isinstance(conflict.local, dict) else None
        shown_local = local if local is not None else (clash.row if clash is not None else None)
        remote, auto = conflict.remote, conflict.auto
        base = conflict.base if isinstance(conflict.base, dict) else None
        whole = _cell("whole row", tooltip=f"The whole row: {kind_label(conflict.kind)} ({conflict.kind})")
        whole.setStyleSheet("font-weight: 600;")
        self.grid.addWidget(whole, row, 0)
        self.grid.addWidget(_word("same version" if conflict.kind == "diverged" else ("exists" if base else fmt.DASH)), row, 1)
        self.grid.addWidget(self._local_word(conflict, clash), row, 2)
        self.grid.addWidget(_word("new row" if conflict.kind == "constraint" and local is None else ("exists" if remote is not None else _DELETED), "remote"), row, 3)
        if conflict.kind == "constraint":
            self.grid.addWidget(_word("none", winner=True, tooltip="A constraint conflict has no automatic result"), row, 4)
        else:
            self.grid.addWidget(_word("keep row" if auto is not None else "delete row", winner=True), row, 4)
        combo = self._combo(conflict, theirs)
        self.grid.addWidget(combo, row, 5, 1, 2)
        start_row = remote if isinstance(remote, dict) else (local or {})
        choice = Choice(conflict, combo, {}, dict(start_row))
        names = list(dict.fromkeys([*(columns or {}), *(start_row or {})]))
        clashing = set(clash.columns) if clash is not None else set()
        row += 1
        for name in names:
            lv = shown_local.get(name) if shown_local is not None else None
            rv = remote.get(name) if isinstance(remote, dict) else None
            av = auto.get(name) if isinstance(auto, dict) else None
            differ = (shown_local is None) != (remote is None) or lv != rv
            name_cell = _cell(f"    {name}" + ("  ⚠" if name in clashing else ""))
            self.grid.addWidget(name_cell, row, 0)
            self.grid.addWidget(_cell(fmt.value(base.get(name), limit=_WHOLE) if base else ""), row, 1)
            here = _cell(fmt.value(lv, limit=_WHOLE) if shown_local is not None else "", "local" if differ and shown_local is not None else "same")
            there = _cell(fmt.value(rv, limit=_WHOLE) if remote is not None else "", "remote" if differ and remote is not None else "same")
            self.grid.addWidget(here, row, 2)
            self.grid.addWidget(there, row, 3)
            self.grid.addWidget(_cell(fmt.value(av, limit=_WHOLE) if auto is not None else "", winner=auto is not None), row, 4)
            if name in clashing:
                tip = f"The clash: {clash.sentence}" if clash is not None else ""
                for cell in (name_cell, here, there):
                    cell.setStyleSheet(_CLASH_STYLE)
                    cell.setToolTip(f"{cell.text().strip()}\n{tip}")
            if name in pk_columns:
                self.grid.addWidget(_cell(fmt.value(start_row.get(name), limit=_WHOLE), tooltip="the key cannot change"), row, 6)
            else:
                editor = make_editor(columns.get(name), start_row.get(name))
                _shrinkable(editor.widget)
                editor.widget.setAccessibleName(f"Custom value for {name}")
                choice.editors[name] = editor
                self.grid.addWidget(editor.widget, row, 6)
            row += 1
        self._link(choice)
        return row

    @staticmethod
    def _local_word(conflict: Conflict, clash: Clash | None) -> QLabel:
        """What "This device" holds of a whole-row conflict's row."""
        if conflict.local is not None:
            return _word("exists", "local")
        if conflict.kind != "constraint":
            return _word(_DELETED, "local")
        if clash is not None and clash.row is not None:
            return _cell(clash.label, "local", tooltip=f"The row in the way: {clash.sentence}")
        return _word("not here", "local", tooltip="This device has no such row; their change waits for a decision")

    def _link(self, choice: Choice) -> None:
        choice.shown = {column: editor.value() for column, editor in choice.editors.items()}
        def update() -> None:
            custom = choice.take == "custom"
            for editor in choice.editors.values():
                editor.widget.setEnabled(custom)

        choice.combo.currentIndexChanged.connect(update)
        update()
        self.choices.append(choice)

    def _focused(self) -> tuple[int, str, tuple[int, int]] | None:
        """Where the cursor is in the panel's controls: (conflict id, column or "\\0" for the decision, selection)."""
        widget = QApplication.focusWidget()
        for choice in self.choices:
            if widget is choice.combo:
                return choice.conflict.id, "\0", (0, 0)
            for column, editor in choice.editors.items():
                if widget is editor.widget or (widget is not None and editor.widget.isAncestorOf(widget)):
                    line = editor.widget
                    selection = (0, 0)
                    if isinstance(line, QLineEdit):
                        selection = (line.selectionStart(), line.selectionLength()) if line.hasSelectedText() else (line.cursorPosition(), 0)
                    return choice.conflict.id, column, selection
        return None

    def _refocus(self, conflict_id: int, column: str, selection: tuple[int, int]) -> None:
        """Put the cursor back where :meth:`_focused` found it (a text's selection too)."""
        for choice in self.choices:
            if choice.conflict.id == conflict_id:
                target = choice.combo if column == "\0" else choice.editors.get(column, None)
                widget = target.widget if isinstance(target, ValueEditor) else target
                if widget is not None:
                    widget.setFocus(Qt.FocusReason.OtherFocusReason)
                if isinstance(widget, QLineEdit) and selection[1]:
                    widget.setSelection(*selection)
                elif isinstance(widget, QLineEdit):
                    widget.setCursorPosition(selection[0])

    def choices_conflicts(self) -> list[Conflict]:
        """The conflicts shown, in order."""
        return [c.conflict for c in self.choices]

    def decisions(self) -> list[Decision]:
        return [c.decision() for c in self.choices]

    def tab_chain(self) -> list[QWidget]:
        """The panel's controls in the order Tab visits them: each decision and its editors, then the buttons.

        A constraint conflict's clashing column comes first: that is the value to change.
        """
        chain = [w for c in self.choices for w in c.widgets()]
        clash = self.clash_editor()
        if clash is not None:
            chain.remove(clash)
            chain.insert(0, clash)
        return [*chain, self.accept_button, self.apply_button]

    def clash_editor(self) -> QWidget | None:
        """The editor of the first clashing column of a constraint conflict, if any."""
        for choice in self.choices:
            clash = self.clashes.get(choice.conflict.id)
            for column in clash.columns if clash is not None else ():
                if column in choice.editors:
                    return choice.editors[column].widget
        return None

    def focus_clash(self) -> bool:
        """Put the cursor in the clashing column's editor, its text selected; False when there is none."""
        editor = self.clash_editor()
        if editor is None or not editor.isEnabled():
            return False
        editor.setFocus(Qt.FocusReason.OtherFocusReason)
        if isinstance(editor, QLineEdit):
            editor.selectAll()
        return True

    def focus_choice(self, conflict_id: int) -> None:
        """Put the cursor where the decision of ``conflict_id`` is made (its editor when custom)."""
        for choice in self.choices:
            if choice.conflict.id == conflict_id:
                editors = [e.widget for e in choice.editors.values() if e.widget.isEnabled()]
                (editors[0] if editors else choice.combo).setFocus(Qt.FocusReason.OtherFocusReason)


def _shrinkable(widget: QWidget) -> None:
    """Let an editor be narrower than its text (a line edit scrolls its text)."""
    widget.setMinimumWidth(60)
    widget.setSizePolicy(QSizePolicy.Policy.Preferred, widget.sizePolicy().verticalPolicy())


__all__ = ["CHOICES", "Choice", "Decision", "DecisionPanel"]
