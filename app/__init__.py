"""Sync Manager: the desktop front end of :mod:`syncengine` (PySide6 + qasync).

The app only calls the engine's public API. ``services`` wrap a device and its
remote in QObjects that run every engine call off the UI thread and emit signals;
``models`` are thin Qt item models over engine queries; ``widgets`` and
``dialogs`` build the window; :mod:`app.main` is the composition root.
"""

__all__: list[str] = []
