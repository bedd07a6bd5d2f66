"""The desk's sign-in (ui/desk/auth.py) against a real hub: each trouble said in the words the
sign-in form shows, as a HubError, and never with the password in it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from hub.client import HubError, HubFailed, HubNeedsSecondFactor, HubRefused, HubUnreachable
from tests.helpers.hubserver import HubDatabase, ThreadedHub, free_port
from tests.ui.conftest import PASSWORD, People
from ui.desk.auth import sign_in


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def test_a_nurse_signs_in_with_the_address_as_typed(hub: ThreadedHub, people: People,
                                                    http: httpx.Client) -> None:  # fmt: skip
    address = hub.http.removeprefix("http://") + "/"
    signed = sign_in(http, address, " nina ", PASSWORD)
    assert signed.hub_url == hub.http and signed.username == "nina"
    assert signed.principal.role == "nurse" and signed.token
    assert signed.ws_url == "ws://" + hub.http.removeprefix("http://") + "/ws"


def test_a_nurse_signs_in_with_several_hubs_typed_and_the_first_names_the_service(
    hub: ThreadedHub, people: People, http: httpx.Client,
) -> None:
    """Hubs of one service with no load balancer (docs/cluster.md): the first typed is down,
    the next answers; the keyring's name stays the first, the connections go to the one that
    answered first."""
    dead = f"127.0.0.1:{free_port()}"
    signed = sign_in(http, f"{dead}, {hub.http}", "nina", PASSWORD)
    assert signed.hub_url == f"http://{dead}" and signed.hubs.current == hub.http
    assert signed.ws_urls == [hub.ws, f"ws://{dead}/ws"]
    with pytest.raises(HubUnreachable) as caught:
        sign_in(http, f"{dead} http://127.0.0.1:{free_port()}", "nina", PASSWORD)
    assert str(caught.value).startswith(f"Cannot reach any of the hubs at http://{dead}, ")


def test_a_wrong_password_and_empty_fields_are_refused_in_plain_words(
    hub: ThreadedHub, people: People, hubdb: HubDatabase, http: httpx.Client
) -> None:
    hubdb.staff("ada", "admin", PASSWORD)
    # an administrator signs in to the desk too (issue 16: the accounts screen), with a
    # second factor: the desk is told to set one up (tests/ui/test_second_factor.py)
    with pytest.raises(HubNeedsSecondFactor) as needed:
        sign_in(http, hub.http, "ada", PASSWORD)
    assert needed.value.enrol and needed.value.role == "admin"
    cases = [("nina", "not it", "Wrong user name or password."),
             ("nina", "", "Enter your user name and password."),
             ("nina", "x" * 2000, "Check your password.")]  # fmt: skip
    for user, password, words in cases:
        with pytest.raises(HubRefused) as caught:
            sign_in(http, hub.http, user, password)
        assert str(caught.value) == words
        assert not password or password not in str(caught.value)


def test_a_locked_account_is_told_how_long_to_wait(
    start_hub: Callable[..., ThreadedHub], people: People, http: httpx.Client
) -> None:
    hub = start_hub(signin_account_failures=2, signin_lock_s=240)
    for _ in range(2):
        with pytest.raises(HubRefused):
            sign_in(http, hub.http, "nina", "not it")
    with pytest.raises(HubFailed) as caught:
        sign_in(http, hub.http, "nina", PASSWORD)
    assert caught.value.status == 429
    assert str(caught.value) == ("Too many failed sign-ins for this account or from this "
                                 "computer: try again in 4 minutes.")


def test_an_unreachable_hub_is_named_with_what_to_check(http: httpx.Client) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HubUnreachable) as caught:
        sign_in(http, address, "nina", PASSWORD)
    assert str(caught.value) == (f"Cannot reach the hub at {address} (ConnectError): check "
                                 "the address, and that the hub is running.")  # fmt: skip
    with pytest.raises(HubError, match="must start with http:// or https://"):
        sign_in(http, "ftp://hub.example", "nina", PASSWORD)
