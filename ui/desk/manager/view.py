"""Where the manager view enters the desk: the program (ui/desk/app.py) hands the window
this factory, which the window calls after a manager signs in, instead of the queue."""

from __future__ import annotations

import httpx
from PySide6.QtWidgets import QBoxLayout

from hub.client import HubClient
from ui.desk.auth import SignedIn
from ui.desk.glance import GlanceFeed, GlanceStrip
from ui.desk.manager.dashboard import ManagerView
from ui.desk.work import Workers

__all__ = ["manager_view"]


def manager_view(http: httpx.Client, signed: SignedIn, workers: Workers) -> ManagerView:
    """The dashboard for ``signed``, loading the sites and the figures.

    A manager takes no calls: no call engine, no ringing, no record sync are started.
    """
    view = ManagerView(HubClient(http, signed.hubs, signed.token), workers)
    # The hub at a glance, live, above the figures (a listening signaling connection).
    strip = GlanceStrip(view)
    feed = GlanceFeed(signed.ws_urls, signed.token, strip)
    feed.glanceChanged.connect(strip.show_glance)
    strip.destroyed.connect(feed.close)
    layout = view.layout()
    if isinstance(layout, QBoxLayout):
        layout.insertWidget(0, strip)
    view.load_sites()
    view.refresh()
    return view
