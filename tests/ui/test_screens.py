"""Every screen of the desk, driven to a realistic state and grabbed as a PNG.

Run with TELEHUB_SCREENSHOTS=docs/screenshots to keep them (docs/desk.md shows them); under
Xvfb with QT_QPA_PLATFORM=xcb the grabs are of real X11 windows.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QWidget

from hub.contract import signaling as p
from hub.contract.identity import CallRole
from tests.helpers.fixtures import People
from tests.helpers.hubserver import ThreadedHub, free_port
from tests.ui.conftest import PRE_CALL, SiteCaller, signed_in

pytestmark = pytest.mark.slow


def shoot(widget: QWidget, name: str, tmp_path: Path) -> QImage:
    keep = os.environ.get("TELEHUB_SCREENSHOTS")
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 600
    image.save(str(tmp_path / f"{name}.png"))
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        image.save(str(Path(keep) / f"desk-{name}.png"))
    return image


def dark(image: QImage) -> bool:
    """The window background is the theme's dark grey, not Qt's light default."""
    colour = QColor(image.pixel(3, image.height() - 3))
    return colour.lightness() < 60


def assert_form_not_clipped(form: Any) -> None:
    """The triage form fits its scroll area's viewport: nothing runs under the scroll bar."""
    from PySide6.QtWidgets import QGroupBox

    viewport, inner = form.form_scroll.viewport(), form.form_scroll.widget()
    assert inner.width() <= viewport.width(), (inner.width(), viewport.width())
    boxes = inner.findChildren(QGroupBox)
    assert boxes
    for box in boxes:
        right = box.mapTo(viewport, box.rect().topRight()).x()
        assert right < viewport.width(), (box.title(), right, viewport.width())


def test_every_screen(qtbot: Any, hub: ThreadedHub, people: People,
                      hd_site_caller: SiteCaller, desk_factory: Any, make_engine: Any,
                      tmp_path: Path) -> None:
    site_caller = hd_site_caller
    dead = f"http://127.0.0.1:{free_port()}"  # the record store is unreachable: the banner
    desk = desk_factory(sync_url=dead)
    desk.resize(1440, 900)
    desk.signin.hub.setText(hub.http)
    desk.signin.user.setText("nina")
    assert dark(shoot(desk, "signin", tmp_path))
    signed_in(qtbot, desk, hub, "nina")

    other = make_engine(people.site, CallRole.CALLER)  # a second care home call in the queue
    site_caller.loop.run(other.request_call("Not eating or drinking for two days",
                                            urgency=p.Urgency.ROUTINE,
                                            intended_action=p.IntendedAction.GP))
    site_caller.request("Fall, now confused", urgency=p.Urgency.URGENT,
                        intended_action=p.IntendedAction.AMBULANCE_999, observations=PRE_CALL,
                        patient=p.Patient(nhs_number="9434765919", name="Edith Test"))
    qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 2, timeout=10_000)
    # The screenshot shows the wait times ticking (none still at 0:00).
    qtbot.waitUntil(lambda: all(desk.queue.model.index(row, 4).data() != "0:00"
                                for row in range(2)), timeout=5_000)
    assert dark(shoot(desk, "queue", tmp_path))

    desk.queue.table.selectRow(0)
    desk.queue.on_answer_clicked()
    qtbot.waitUntil(lambda: desk.call.remote.painted >= 15, timeout=15_000)
    qtbot.waitUntil(lambda: "Good" in desk.call.quality.text()
                    or "Fair" in desk.call.quality.text(), timeout=5_000)
    form = desk.triage
    form.obs["pulse"].clear()
    qtbot.keyClicks(form.obs["pulse"], "131")
    qtbot.keyClicks(form.sbard["situation"], "Found on floor at 02:40, confused since")
    form.signs["change_in_confusion"].setChecked(True)
    form.outcome.setCurrentIndex(form.outcome.findData("advice_managed_in_place"))
    image = shoot(desk, "call", tmp_path)
    assert dark(image)
    assert_form_not_clipped(form)
    desk.resize(1100, 760)  # a smaller window: the video gives way, the form still fits
    qtbot.waitUntil(lambda: assert_form_not_clipped(form), timeout=5_000)
    desk.resize(1440, 900)

    # HD from the station: the indicator names the size and codec, for the eye and the ear
    quality = desk.call.quality
    qtbot.waitUntil(lambda: "receiving 1280x720 H.264" in quality.accessibleDescription(),
                    timeout=10_000)
    assert quality.accessibleName() in ("Call quality Good", "Call quality Fair")
    assert "sending 640x480 H.264" in quality.accessibleDescription()  # the desk's VGA camera
    shoot(desk, "call-hd", tmp_path)

    # The station's connection dies: within a second the desk says there is no picture, on
    # the indicator and across the last picture, and then recovers by itself.
    assert site_caller.session is not None
    link = site_caller.session.links[people.nurse.principal.participant_id]
    cut_at = time.monotonic()
    site_caller.loop.run(link.pc.close())
    qtbot.waitUntil(lambda: quality.level == "No picture", timeout=3_000)
    noticed = time.monotonic() - cut_at
    QApplication.processEvents()  # the header's layout follows the longer words first
    shoot(desk, "call-no-picture", tmp_path)
    assert noticed <= 1.0, f"the desk said it after {noticed:.2f} s"
    assert "reconnecting" in quality.accessibleDescription()
    assert "No picture" in desk.call.remote.stale
    assert desk.call.remote.accessibleDescription() == desk.call.remote.stale
    qtbot.waitUntil(lambda: not desk.call.remote.stale and quality.level != "No picture",
                    timeout=10_000)

    desk.call.hold.setChecked(True)
    qtbot.waitUntil(lambda: desk.call.remote.overlay.startswith("On hold"), timeout=5_000)
    shoot(desk.call.remote, "call-hold", tmp_path)
    desk.call.hold.setChecked(False)

    desk.call.end.click()
    qtbot.waitUntil(lambda: desk.current is None, timeout=10_000)
    form.avoided["admission"].setChecked(True)
    form.on_sign_off()
    qtbot.waitUntil(lambda: form.closed, timeout=5_000)
    qtbot.waitUntil(lambda: desk.banner.isVisible(), timeout=10_000)
    assert "1 record waiting to sync" in desk.banner_text.text()
    desk.tabs.setCurrentWidget(desk.history)
    qtbot.waitUntil(lambda: desk.history.model.rowCount() == 1, timeout=5_000)
    assert desk.history.model.data(desk.history.model.index(0, 7)) == "waiting to sync"
    shoot(desk, "history-offline", tmp_path)
    bar = desk.tabs.tabBar()
    assert all(bar.rect().contains(bar.tabRect(i)) for i in range(bar.count())), (
        bar.rect(), [bar.tabRect(i) for i in range(bar.count())], bar.sizeHint())
