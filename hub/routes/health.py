"""Liveness: ``GET /health`` for load balancers and the desk's "hub reachable" indicator."""

from __future__ import annotations

from fastapi import APIRouter

from hub.contract.rest import Health

router = APIRouter(tags=["service"])


@router.get("/health")
def health() -> Health:
    """Liveness for load balancers and the desk's "hub reachable" indicator; no token needed."""
    return Health()
