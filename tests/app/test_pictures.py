"""Pictures where people would rather look than read: the activity chart, how far behind each device is,
a device's details, and why the Devices view is empty."""

from __future__ import annotations

import socket

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app import config
from app.demo import build_demo
from app.models.devices import BehindRole
from app.widgets.chart import RECEIVED, SENT

from .helpers import close_window, news_for_north, open_window


def _has_colour(image, colour: QColor) -> bool:
    return any(image.pixelColor(x, y) == colour for x in range(0, image.width(), 2) for y in range(image.height()))


def test_the_overview_charts_each_sync_and_a_new_sync_adds_to_it(qtbot, run, tmp_path) -> None:
    workspace = build_demo(tmp_path / "demo")
    news_for_north(tmp_path / "demo")
    window = open_window(qtbot, run, workspace)
    chart = window.overview.chart
    before = len(chart.points)
    assert before == 5  # the demo's syncs
    assert chart.summary() == "Last 5 syncs: sent 19, received 13, 6 conflicts found"
    image = chart.grab().toImage()
    assert _has_colour(image, SENT) and _has_colour(image, RECEIVED)
    busiest = max(range(before), key=lambda i: chart.points[i].conflicts)
    slot = chart._slot(busiest)
    assert chart.slot_at(slot.center().x()) == busiest
    assert "6 conflicts found" in chart.points[busiest].describe()
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000):
        qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: len(chart.points) == before + 1, timeout=10000)
    assert chart.points[-1].received == 2 and chart.points[-1].sent == 3  # the newest on the right
    close_window(qtbot, window)


def test_devices_show_how_far_behind_and_a_double_click_or_enter_opens_the_details(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    page = window.devices
    window.show_view("devices")
    model = page.model
    names = [model.row_item(r).name for r in range(model.rowCount())]
    south = names.index("shop-south")
    assert model.data(model.index(south, 2)) == "2 entries behind"
    assert model.data(model.index(south, 2), BehindRole) == (2, 2)
    assert model.data(model.index(south, 1)).startswith("just now")  # last seen
    rect = page.view.visualRect(model.index(south, 0))
    qtbot.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real double-click starts with a press
    qtbot.mouseDClick(page.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: page.details is not None and page.details.isVisible(), timeout=5000)
    details = page.details
    assert details.windowTitle() == "shop-south — device details"
    assert details.fields["Behind"] == "2 entries behind of the shared log"
    assert details.fields["Id"] == model.row_item(south).device_id
    qtbot.keyClick(details, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: page.details is None, timeout=5000)
    mine = names.index("shop-north")
    page.view.setFocus()
    page.view.setCurrentIndex(model.index(mine, 0))
    qtbot.keyClick(page.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.details is not None and page.details.isVisible(), timeout=5000)
    assert page.details.fields["Waiting here"] == "3 entries not sent yet, 5 received and not applied"
    page.details.close()
    close_window(qtbot, window)


def test_the_devices_view_says_why_it_is_empty_when_offline(qtbot, run, tmp_path) -> None:
    demo = build_demo(tmp_path / "demo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    config.save_token(url, "t0ken")
    window = open_window(qtbot, run, config.Workspace(db=demo.db, remote=url))
    page = window.devices
    window.show_view("devices")
    assert page.model.rowCount() == 0
    assert page.stack.currentWidget() is page.empty and page.empty.isVisible()
    assert page.empty.text().startswith("No devices to show: the shared log cannot be reached now")
    assert "refused" in page.empty.text()
    close_window(qtbot, window)


def test_at_the_smallest_window_the_overview_scrolls_instead_of_squeezing(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    window.resize(window.minimumSize())
    overview = window.overview
    qtbot.waitUntil(lambda: overview.scroller.verticalScrollBar().maximum() > 0, timeout=5000)
    for part in (overview.chart, overview.attention, overview.check_panel, overview.last_result):
        assert part.height() >= part.minimumSizeHint().height(), part
    assert overview.chart.height() >= overview.chart.minimumHeight()
    close_window(qtbot, window)
