"""The window's parts: one page per view, the banner, the tray icon, value editors."""
