"""Dialogs: opening a workspace, error details, adding a device and joining one (pairing)."""
