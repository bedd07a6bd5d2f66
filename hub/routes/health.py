"""Liveness and readiness: ``GET /health`` (the process answers) for the desk's "hub
reachable" indicator, ``GET /ready`` (it should get new connections) for load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hub.contract.rest import Health, Ready
from hub.readiness import ReadyState
from hub.routes.deps import HubDep

router = APIRouter(tags=["service"])


@router.get("/health")
def health() -> Health:
    """Liveness for the desk's "hub reachable" indicator and monitoring; no token needed."""
    return Health()


@router.get("/ready", response_model=Ready,
            responses={503: {"model": Ready, "description": "not ready: see status"}})
async def ready(hub: HubDep) -> JSONResponse:
    """200 while the database answers and the hub is not draining; 503 otherwise, so the
    load balancer sends new connections to the other hubs. No token (the balancer has none);
    it says only which of the three states the hub is in."""
    live = hub.live_front()
    state = await hub.readiness.check("shutting down" if live is None else live.not_ready())
    code = 200 if state is ReadyState.READY else 503
    return JSONResponse(Ready(status=state.value).model_dump(), status_code=code,
                        headers={"Cache-Control": "no-store"})
