"""Opening a window while the remote is unreachable: it says it is checking, shows the stored settings, then says offline.

The engine retries a failed request for several seconds; a server that refuses
connections must be called offline after one attempt, so retries stay on here
(no ``stamina.set_testing``) and the wait for "Offline" is bounded well below them.
"""

from __future__ import annotations

import socket

from PySide6.QtCore import Qt

from app import config
from app.demo import build_demo
from app.services.device import DeviceService
from app.window import MainWindow

from .helpers import close_window


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_reads_checking_then_offline_and_the_stored_settings_never_show_wrong(qtbot, run, tmp_path) -> None:
    demo = build_demo(tmp_path / "demo")  # shop-north stores: automatic sync off, every 300 s, conflicts held
    url = f"http://127.0.0.1:{_closed_port()}"
    config.save_token(url, "t0ken")
    service = run(DeviceService.open(config.Workspace(db=demo.db, remote=url)))
    window = MainWindow(service)
    service.setParent(window)
    qtbot.addWidget(window)
    window.show()
    overview = window.overview
    # before anything is read: "Checking…", and the settings cannot be clicked while they show no stored value
    assert overview.reach_label.text() == "Checking…"
    assert window.state_label.text() == "Checking the remote…"
    assert not overview.auto_check.isEnabled() and not overview.interval.isEnabled() and not overview.review_check.isEnabled()
    window.start()
    qtbot.waitUntil(lambda: overview.review_check.isEnabled(), timeout=5000)
    assert overview.review_check.isChecked() and not overview.auto_check.isChecked() and overview.interval.value() == 300
    # one refused connection is enough to say so (the engine's retries would take about ten seconds)
    qtbot.waitUntil(lambda: service.reachability.value == "offline", timeout=3000)
    assert overview.reach_label.text() == "Offline — changes wait on this device"
    assert "refused" in service.reachability_detail
    assert window.banner.level == "offline"
    qtbot.waitUntil(lambda: window._loaded, timeout=10000)
    assert overview.auto_check.isEnabled()
    qtbot.keyClick(overview.review_check, Qt.Key.Key_Space)  # now a click means what it shows
    qtbot.waitUntil(lambda: overview.review_check.isEnabled() and not overview.review_check.isChecked(), timeout=5000)
    close_window(qtbot, window)
