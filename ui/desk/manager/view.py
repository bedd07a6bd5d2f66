"""Where the manager view enters the desk: after a manager signs in, instead of the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.client import HubClient
from ui.desk.auth import SignedIn
from ui.desk.manager.dashboard import ManagerView

if TYPE_CHECKING:
    from ui.desk.window import DeskWindow

__all__ = ["show_manager_view"]


def show_manager_view(window: DeskWindow, signed: SignedIn) -> ManagerView:
    """Put the dashboard in the window's stack and load the sites and the figures.

    A manager takes no calls: no call engine, no ringing, no record sync are started.
    """
    view = ManagerView(HubClient(window.parts.http, signed.hub_url, signed.token),
                       window.workers)
    window.manager = view  # type: ignore[attr-defined]
    window.stack.addWidget(view)
    window.stack.setCurrentWidget(view)
    window.setWindowTitle("telehub desk — manager")
    window.statusBar().showMessage(f"Signed in as {signed.principal.name} (manager)")
    view.load_sites()
    view.refresh()
    return view
