"""The hub service's uvicorn server: on SIGTERM the live side hands over before the sockets close.

uvicorn's own shutdown stops listening, closes every WebSocket with 1012 (service restart)
and then runs the app's shutdown. A hub of several (docs/cluster.md) first takes no new
clients and, if it dispatches, lets another hub take the dispatch, so that its clients
reconnect once, to a hub that can serve them.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("telehub.hub")
HAND_OVER_S = 10.0  # at most; then uvicorn's shutdown goes ahead regardless


class DrainingServer(uvicorn.Server):
    def __init__(self, app: FastAPI, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            live = self._app.state.services.switchboard
            await asyncio.wait_for(live.hand_over(), HAND_OVER_S)
        except Exception:  # a failed hand-over must not keep the hub from stopping
            log.exception("the hand-over before shutdown failed; shutting down anyway")
        await super().shutdown(sockets)
