"""The second factor of staff sign-in: TOTP secrets (encrypted at rest), enrolment, codes
accepted once, and single-use recovery codes.

Who needs one: admin and manager always, the roles in ``HubConfig.mfa_for`` too, and anyone
who has enrolled. A secret is 160 random bits, stored AES-GCM encrypted with a 256-bit key
kept in a file beside the hub (``HubConfig.secret_key_file``), never in the database: a dump
of the database alone does not give anyone's codes. The ciphertext is bound to its staff id
(associated data), so it cannot be moved onto another account. A code is accepted for its
30-second step, one step either side for clocks that drift; the step of the last accepted
code is stored and no code of it or an earlier step works again, on any hub (one
conditional UPDATE). Recovery codes are 80 random bits each, kept as SHA-256 only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from hub.codes import new_code, normalise_code
from hub.config import HubConfig
from hub.contract.identity import StaffRole
from hub.db import utcnow
from hub.models import StaffRecoveryCode, StaffSecondFactor

log = logging.getLogger("hub.mfa")

ALWAYS = (StaffRole.ADMIN, StaffRole.MANAGER)
DIGITS = 6
PERIOD = 30  # seconds a code lasts
RECOVERY_CODES = 10
RECOVERY_LENGTH = 16  # characters, 80 bits


class SecondFactorError(Exception):
    """A second-factor request that cannot be carried out, in plain words."""


class AlreadyEnrolled(SecondFactorError):
    pass


class SecretKeyMismatch(SecondFactorError):
    """The hub's key file is not the one a stored secret was encrypted with."""


def required(config: HubConfig, role: str) -> bool:
    return role in ALWAYS or role in config.mfa_for


# --- the key and the sealed secrets ----------------------------------------------------------


class SecretBox:
    """AES-256-GCM with the hub's key file; the file is made (0600) on first use."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._key: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            try:
                key = self.key_file.read_bytes()
            except FileNotFoundError:
                key = self._create()
            if len(key) != 32:
                raise SecretKeyMismatch(f"the hub's key file {self.key_file} is not a key "
                                        "(32 bytes)")  # fmt: skip
            self._key = key
        return self._key

    def _create(self) -> bytes:
        self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(32)
        try:  # O_EXCL: two hubs starting together on one folder keep the first key
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.key_file.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        log.info("made the hub's secret key file %s: copy it to every hub on this database",
                 self.key_file)
        return key

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self._load()).hexdigest()[:16]

    def seal(self, staff_id: int, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._load()).encrypt(nonce, secret.encode(), _aad(staff_id))
        return base64.b64encode(nonce + sealed).decode()

    def open(self, staff_id: int, sealed: str, key_id: str) -> str:
        if key_id != self.key_id:
            raise SecretKeyMismatch(
                f"a second factor was enrolled with another key (id {key_id}) than this hub's "
                f"{self.key_file} (id {self.key_id}): every hub needs the same key file")
        raw = base64.b64decode(sealed)
        try:
            return AESGCM(self._load()).decrypt(raw[:12], raw[12:], _aad(staff_id)).decode()
        except InvalidTag:
            raise SecretKeyMismatch("a stored second factor does not open with this hub's "
                                    "key: it has been altered") from None  # fmt: skip


def _aad(staff_id: int) -> bytes:
    return f"telehub-totp:staff:{staff_id}".encode()


# --- enrolment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app that cannot scan
    uri: str  # otpauth://totp/..., what the QR code holds


def enrolled(session: Session, staff_id: int) -> bool:
    row = session.get(StaffSecondFactor, staff_id)
    return row is not None and row.confirmed_at is not None


def begin_enrolment(session: Session, box: SecretBox, staff_id: int, username: str,
                    issuer: str) -> Enrolment:
    """A new secret for ``staff_id``, pending until a code from it is confirmed; replaces a
    pending one, never a confirmed one (an administrator resets that)."""
    row = session.get(StaffSecondFactor, staff_id)
    if row is not None and row.confirmed_at is not None:
        raise AlreadyEnrolled("this account already has a second factor; an administrator "
                              "can reset it")  # fmt: skip
    secret = pyotp.random_base32()  # 32 characters: 160 bits, as RFC 4226 recommends
    sealed = box.seal(staff_id, secret)
    if row is None:
        session.add(StaffSecondFactor(staff_id=staff_id, secret=sealed, key_id=box.key_id,
                                      created_at=utcnow(), confirmed_at=None, last_step=None))
    else:
        row.secret, row.key_id, row.created_at, row.last_step = sealed, box.key_id, utcnow(), None
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=username, issuer_name=issuer)
    return Enrolment(secret, uri)


def confirm_enrolment(session: Session, box: SecretBox, staff_id: int, code: str
                      ) -> list[str] | None:
    """Confirm a pending enrolment with a code from it; returns the new recovery codes
    (shown once), or None if the code is not right (or nothing is pending)."""
    row = session.get(StaffSecondFactor, staff_id)
    if row is None or row.confirmed_at is not None:
        return None
    if _accept_totp(session, box, row, code) is not Check.TOTP:
        return None
    row.confirmed_at = utcnow()
    return _new_recovery_codes(session, staff_id)


def reset(session: Session, staff_id: int) -> bool:
    """Remove a member of staff's second factor and recovery codes; True if there was one."""
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff_id))
    done = session.execute(delete(StaffSecondFactor)
                           .where(StaffSecondFactor.staff_id == staff_id))
    return bool(getattr(done, "rowcount", 0))


# --- checking a code ---------------------------------------------------------------------------


class Check(StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery_code_used"
    WRONG = "wrong_code"
    REPLAYED = "replayed_code"


def check(session: Session, box: SecretBox, staff_id: int, code: str,
          at: datetime | None = None) -> Check:
    """Is ``code`` (six digits from the app, or a recovery code) good for this sign-in? A
    good one is used up in this transaction."""
    row = session.get(StaffSecondFactor, staff_id)
    if row is None or row.confirmed_at is None:
        return Check.WRONG
    digits = "".join(ch for ch in code if not ch.isspace())
    if len(digits) == DIGITS and digits.isdigit():
        return _accept_totp(session, box, row, digits, at)
    return _use_recovery_code(session, staff_id, code)


def _accept_totp(session: Session, box: SecretBox, row: StaffSecondFactor, code: str,
                 at: datetime | None = None) -> Check:
    digits = "".join(ch for ch in code if not ch.isspace())
    if len(digits) != DIGITS or not digits.isdigit():
        return Check.WRONG
    totp = pyotp.TOTP(box.open(row.staff_id, row.secret, row.key_id), digits=DIGITS,
                      interval=PERIOD)
    now_step = totp.timecode(at or utcnow())
    step = next((s for s in (now_step - 1, now_step, now_step + 1)
                 if hmac.compare_digest(totp.generate_otp(s), digits)), None)  # fmt: skip
    if step is None:
        return Check.WRONG
    # Conditional, so of two hubs given the same code at once only one accepts it.
    taken = session.execute(
        update(StaffSecondFactor)
        .where(StaffSecondFactor.staff_id == row.staff_id,
               or_(StaffSecondFactor.last_step.is_(None), StaffSecondFactor.last_step < step))
        .values(last_step=step)
        .execution_options(synchronize_session=False))
    if not getattr(taken, "rowcount", 0):
        return Check.REPLAYED
    row.last_step = step
    return Check.TOTP


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def _new_recovery_codes(session: Session, staff_id: int) -> list[str]:
    session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff_id))
    codes = [new_code(RECOVERY_LENGTH) for _ in range(RECOVERY_CODES)]
    session.add_all(StaffRecoveryCode(staff_id=staff_id, code_hash=_recovery_hash(c),
                                      used_at=None) for c in codes)  # fmt: skip
    return codes


def _use_recovery_code(session: Session, staff_id: int, code: str) -> Check:
    if len(normalise_code(code).replace("-", "")) != RECOVERY_LENGTH:
        return Check.WRONG
    used = session.execute(
        update(StaffRecoveryCode)
        .where(StaffRecoveryCode.staff_id == staff_id,
               StaffRecoveryCode.code_hash == _recovery_hash(code),
               StaffRecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False))
    return Check.RECOVERY if getattr(used, "rowcount", 0) else Check.WRONG


def recovery_codes_left(session: Session, staff_id: int) -> int:
    return len(session.scalars(select(StaffRecoveryCode.id).where(
        StaffRecoveryCode.staff_id == staff_id, StaffRecoveryCode.used_at.is_(None))).all())
