"""Asking before deciding many conflicts at once: how many, how, and which stay open.

The question is a window-modal message box opened with ``open()`` and awaited,
so the event loop (and a sync under way) keeps running while it is up.
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QMessageBox, QWidget

from syncengine import Conflict

HOW = {
    "auto": "Each takes its automatic result.",
    "local": "Each keeps this device's value.",
    "remote": "Each takes the other device's value.",
}


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def question(take: str, conflicts: list[Conflict], table: str | None) -> tuple[str, str, str]:
    """The question's text, its details and its button, for deciding ``conflicts`` by ``take``."""
    where = f"of {table}" if table else "in every table"
    text = f"Decide all {_n(len(conflicts), 'open conflict')} {where}?"
    details = [HOW.get(take, "")]
    held = sum(1 for c in conflicts if c.kind == "constraint")
    if take == "auto" and held:
        details.append(f"{_n(held, 'constraint conflict')} {'has' if held == 1 else 'have'} no automatic result and stay{'s' if held == 1 else ''} open.")
    elif take == "remote" and held:
        details.append(f"{_n(held, 'constraint conflict')} stay{'s' if held == 1 else ''} open while the other device's row still breaks the constraint.")
    details.append("The decisions are shared with the other devices at the next sync.")
    decided = len(conflicts) - held if take == "auto" else len(conflicts)  # the button says how many it decides
    return text, " ".join(d for d in details if d), f"Decide {decided}"


async def confirm(parent: QWidget, take: str, conflicts: list[Conflict], table: str | None) -> bool:
    """Ask whether to decide ``conflicts`` by ``take``; True when the person said yes."""
    text, details, yes = question(take, conflicts, table)
    box = QMessageBox(QMessageBox.Icon.Question, "Decide all", text, QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("bulkConfirm")
    box.setInformativeText(details)
    decide = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(decide)
    answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def finished(_result: int) -> None:
        if not answered.done():
            answered.set_result(box.clickedButton() is decide)

    box.finished.connect(finished)
    box.open()
    try:
        return await answered
    finally:
        box.setObjectName("")  # answered: a later question is found by its name, not this one
        box.deleteLater()


__all__ = ["confirm", "question"]
