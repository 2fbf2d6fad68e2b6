"""Dialogs: opening a workspace, error details."""
