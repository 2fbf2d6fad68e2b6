"""Editors that fit a column's type, for custom conflict decisions.

Integers get a spin box (or a validated line for 64-bit values), decimals a line
validated to the column's scale (exact: no float round trip), floats a double
spin box, booleans a check box, dates and datetimes their Qt editors, and text
a line limited to the column's length. ``value()`` returns a Python value the
engine converts and checks against the column (``Device.resolve(value=...)``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from PySide6.QtCore import QDate, QDateTime, QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QCheckBox, QDateEdit, QDateTimeEdit, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

_INT32 = 2**31 - 1


def _iso(value: object) -> str:
    """Return the ISO form of what a Qt date or datetime converts to (typed as object in the stubs)."""
    assert isinstance(value, (dt.date, dt.datetime))
    return value.isoformat()


class ValueEditor:
    """A widget and how to read and write its value."""

    def __init__(self, widget: QWidget, kind: str) -> None:
        self.widget = widget
        self.kind = kind

    def value(self) -> Any:
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        if isinstance(w, QDoubleSpinBox):
            return w.value()
        if isinstance(w, QDateTimeEdit) and self.kind == "datetime":
            return _iso(w.dateTime().toPython())
        if isinstance(w, QDateEdit):
            return _iso(w.date().toPython())
        assert isinstance(w, QLineEdit)
        text = w.text()
        if self.kind == "int":
            return int(text) if text.strip() else None
        if self.kind == "decimal":
            try:
                return Decimal(text) if text.strip() else None
            except InvalidOperation:
                return text
        return text

    def set_value(self, v: Any) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(v))
        elif isinstance(w, QSpinBox):
            w.setValue(int(v or 0))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(float(v or 0))
        elif isinstance(w, QDateTimeEdit) and self.kind == "datetime":
            if isinstance(v, dt.datetime):
                w.setDateTime(QDateTime(v))
        elif isinstance(w, QDateEdit):
            if isinstance(v, dt.date):
                w.setDate(QDate(v.year, v.month, v.day))
        elif isinstance(w, QLineEdit):
            w.setText("" if v is None else (format(v, "f") if isinstance(v, Decimal) else str(v)))

    def acceptable(self) -> bool:
        w = self.widget
        return not isinstance(w, QLineEdit) or w.hasAcceptableInput() or (self.kind == "text" and w.validator() is None)


def make_editor(column_type: sa.types.TypeEngine[Any] | None, value: Any, parent: QWidget | None = None) -> ValueEditor:
    """Return an editor for ``column_type`` showing ``value``."""
    editor = _build(column_type, parent)
    editor.set_value(value)
    editor.widget.setMinimumWidth(110)
    return editor


def _build(column_type: sa.types.TypeEngine[Any] | None, parent: QWidget | None) -> ValueEditor:
    if isinstance(column_type, sa.Boolean):
        return ValueEditor(QCheckBox(parent), "bool")
    if isinstance(column_type, sa.Integer):
        if isinstance(column_type, sa.BigInteger):
            line = QLineEdit(parent)
            line.setValidator(QRegularExpressionValidator(QRegularExpression(r"-?\d{1,19}"), line))
            return ValueEditor(line, "int")
        spin = QSpinBox(parent)
        spin.setRange(-_INT32 - 1, _INT32)
        return ValueEditor(spin, "int")
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
        line = QLineEdit(parent)
        scale = column_type.scale
        digits = column_type.precision
        whole = r"\d+" if digits is None else rf"\d{{1,{max(1, digits - (scale or 0))}}}"
        fraction = r"(\.\d*)?" if scale is None else (rf"(\.\d{{0,{scale}}})?" if scale else "")
        line.setValidator(QRegularExpressionValidator(QRegularExpression(f"-?{whole}{fraction}"), line))
        return ValueEditor(line, "decimal")
    if isinstance(column_type, sa.Float):
        double = QDoubleSpinBox(parent)
        double.setRange(-1e15, 1e15)
        double.setDecimals(6)
        return ValueEditor(double, "float")
    if isinstance(column_type, sa.DateTime):
        edit = QDateTimeEdit(parent)
        edit.setCalendarPopup(True)
        edit.setDateTime(QDateTime.currentDateTime())
        return ValueEditor(edit, "datetime")
    if isinstance(column_type, sa.Date):
        edit = QDateEdit(parent)
        edit.setCalendarPopup(True)
        edit.setDate(QDate.currentDate())
        return ValueEditor(edit, "date")
    line = QLineEdit(parent)
    length = getattr(column_type, "length", None)
    if length:
        line.setMaxLength(int(length))
    return ValueEditor(line, "text")


__all__ = ["ValueEditor", "make_editor"]
