"""The hub's REST API as its clients see it: one HubClient, its errors, and one Backoff.

Every program that talks to the hub over HTTP (the desk, the station, the manager view, the
sync runner, ``telehub-export``) does it through :class:`HubClient`. Like hub/contract, this
package imports nothing of the hub's service code (no FastAPI, SQLAlchemy or hub.models): the
bodies it sends and returns are the contract's (hub/contract/rest.py).

Its errors (errors.py) come in one small family under :class:`HubError`, named after what
went wrong, and never hold a token, a password or patient data.

The package follows the API's seams: errors.py, addresses.py (a service's hubs), backoff.py,
core.py (the one place a request is made) and one module for each area of the API, each a
class over the core: signin.py, clinics.py, accounts.py, reports.py, record_store.py,
photos.py and patients.py. :class:`HubClient` is all of them; import from ``hub.client``.
"""

from __future__ import annotations

from hub.client.accounts import Accounts
from hub.client.addresses import HubAddresses, normalise_hub, ws_url
from hub.client.backoff import SITE_BUSY_SPREAD_S, SITE_RECONNECT_SPREAD_S, Backoff, site_backoff
from hub.client.clinics import Clinics, Invitations
from hub.client.errors import (
    HubConflict,
    HubError,
    HubFailed,
    HubNeedsSecondFactor,
    HubNotFound,
    HubRefused,
    HubUnreachable,
)
from hub.client.patients import History, Residents
from hub.client.photos import Photos
from hub.client.record_store import CentralStore, RecordAuthority
from hub.client.reports import Download, Reports
from hub.client.signin import SignIn

__all__ = [
    "SITE_BUSY_SPREAD_S",
    "SITE_RECONNECT_SPREAD_S",
    "Backoff",
    "Download",
    "HubAddresses",
    "HubClient",
    "HubConflict",
    "HubError",
    "HubFailed",
    "HubNeedsSecondFactor",
    "HubNotFound",
    "HubRefused",
    "HubUnreachable",
    "normalise_hub",
    "site_backoff",
    "ws_url",
]


class HubClient(
    SignIn,
    Clinics,
    Invitations,
    Accounts,
    Reports,
    History,
    CentralStore,
    Photos,
    RecordAuthority,
    Residents,
):
    """One hub's REST API, blocking: run it off the UI thread.

    ``http`` is passed in (tests hand in one built on ``httpx.MockTransport``); its owner
    closes it. ``token`` is the bearer token sent with every request once known; the
    sign-in methods set it, with :attr:`principal`, from the hub's answer.
    """
