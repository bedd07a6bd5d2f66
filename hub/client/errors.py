"""The hub client's errors: the HubError family, and the error each answer of the hub becomes.

Errors come in one small family under :class:`HubError`, named after what went wrong, so a
caller decides by kind, never by parsing text. Their messages are plain words a person can
act on and never hold a token, a password or patient data: the hub's own reason is quoted
when it is a sentence the hub wrote, but of a validation error only the fields and the kinds
of error are kept (pydantic's messages may echo the value sent).
"""

from __future__ import annotations

import httpx

# Answers that mean "not now" rather than "no": the request may well succeed later.
_BUSY = {408, 425, 429}


class HubError(Exception):
    """Known trouble with the hub, in plain words.

    ``status`` is the HTTP status of the answer (None when there was none); ``summary`` is a
    short label of codes only ("HTTP 503", "HTTP 422 (missing)", "ConnectError"), safe for a
    log line or the sync outbox.
    """

    def __init__(self, message: str, *, status: int | None = None, summary: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.summary = summary or (f"HTTP {status}" if status is not None else message)
        # Seconds the hub asked the client to wait (Retry-After), when it said.
        self.retry_after = retry_after


class HubUnreachable(HubError):
    """No answer: the hub could not be reached, or did not answer in time."""


class HubRefused(HubError):
    """The hub answered no: not signed in (401), not allowed (403), bad input (400, 422),
    too large (413) or another 4xx. The message carries the hub's reason. Without a
    ``status``, the request was refused here, before it was sent: it does not follow the
    contract (``summary`` names the fields)."""


class HubNeedsSecondFactor(HubRefused):
    """401 at a staff sign-in whose password was right: the account needs a second factor.
    ``enrol`` is True when it has none yet (enrol first), False when the code is missing;
    ``role`` is the account's role."""

    def __init__(self, message: str, *, enrol: bool, role: str) -> None:
        super().__init__(message, status=401, summary="HTTP 401 (second factor)")
        self.enrol = enrol
        self.role = role


class HubConflict(HubError):
    """409: the request clashes with what the hub holds (a cancelled clinic, a newer version)."""


class HubNotFound(HubError):
    """404: the hub holds no such thing (or does not serve the route)."""


class HubFailed(HubError):
    """The hub failed: a 5xx, a busy answer (408, 425, 429), or an answer that does not
    follow the contract. Worth trying again later."""


def _reason(response: httpx.Response) -> tuple[str, list[str]]:
    """The hub's reason for a refusal, and the kinds of validation error in it.

    A string ``detail`` is a sentence the hub wrote for people and is quoted. A list is
    FastAPI's validation errors: only where (``loc``) and what kind (``type``) are kept.
    """
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return "", []
    if isinstance(detail, str):
        return detail, []
    if isinstance(detail, list):
        items = [item for item in detail if isinstance(item, dict)]
        places = sorted({".".join(str(p) for p in item.get("loc", ()) if p != "body")
                         for item in items} - {""})  # fmt: skip
        kinds = sorted({str(item.get("type")) for item in items if item.get("type")})
        return ("check " + ", ".join(places[:6]) if places else "the request is not valid"), kinds
    return "", []


def _error(response: httpx.Response, what: str, token: str | None) -> HubError:
    """The error for an answer that is not what ``what`` (e.g. "list the clinics") wanted."""
    code = response.status_code
    if code >= 500 or code in _BUSY:
        words = "is busy" if code in _BUSY or code == 503 else "failed"
        return HubFailed(f"the hub {words} and could not {what} (HTTP {code}); try again later",
                         status=code, retry_after=_retry_after(response))  # fmt: skip
    reason, kinds = _reason(response)
    if token and token in reason:  # the hub never echoes a token; should one ever, hide it
        reason = reason.replace(token, "…")
    summary = f"HTTP {code}" + (f" ({', '.join(kinds)})" if kinds else "")
    tail = f": {reason}" if reason else ""
    if code == 404:
        return HubNotFound(f"the hub has nothing of that kind (HTTP 404){tail}", status=code,
                           summary=summary)  # fmt: skip
    if code == 409:
        return HubConflict(f"the hub could not {what} (HTTP 409){tail}", status=code,
                           summary=summary)  # fmt: skip
    if 400 <= code < 500:
        return HubRefused(f"the hub refused to {what} (HTTP {code}){tail}", status=code,
                          summary=summary)  # fmt: skip
    return HubFailed(f"the hub answered HTTP {code} when asked to {what}", status=code)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the hub sends seconds, never a date)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None
