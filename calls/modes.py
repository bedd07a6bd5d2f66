"""The video modes of a call, from HD down to audio only, and when to step between them.

Each second the session hands the ladder what it measured of every link: loss (what the
other end reported lost of ours, else what we missed of theirs), the sending bandwidth
estimate (aiortc's encoder target, which the other end's REMB reports drive) and what we
actually sent. The estimate follows what is sent, so it says little while the encoder has
room (a still picture needs little); only a sender that uses all of it (``limited``) learns
the line's limit from it. Sustained loss, or a limited estimate below the mode's floor, steps
down one mode; low loss, with room for the mode above, steps back up, more slowly. A mode
chosen by hand stays.

VP8 at 1280x720 costs about five times H.264's CPU (see :mod:`calls.codecs`), so a link that
agreed on VP8 sends 480p at most unless the options allow HD with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from calls.media import FULL, HD, LOW, VideoProfile

MODES: tuple[str, ...] = ("hd", "full", "low", "audio_only")
PROFILE_OF: dict[str, VideoProfile] = {"hd": HD, "full": FULL, "low": LOW}
#: How the indicator names each mode (what we send).
MODE_LABELS = {"hd": "720p", "full": "480p", "low": "240p", "audio_only": "audio only"}
#: The sending estimate (kbps) a mode needs: below it the mode steps down, and the mode
#: above is tried only with its floor in hand. aiortc's H.264 never aims below 500 kbps and
#: VP8 never below 250, so an estimate clamped there still tells HD from SD.
FLOOR_KBPS = {"hd": 700.0, "full": 350.0, "low": 0.0, "audio_only": 0.0}


@dataclass(frozen=True)
class Measure:
    """One second of one link, as the ladder needs it."""

    loss: float | None
    estimate_kbps: float | None
    codec: str | None
    sent_kbps: float = 0.0

    @property
    def limited(self) -> bool:
        """Sending (nearly) all the estimate allows: the estimate is then the line's."""
        return self.estimate_kbps is not None and self.sent_kbps >= 0.85 * self.estimate_kbps


@dataclass
class ModeLadder:
    loss_down: float = 0.05
    down_after: int = 3
    loss_up: float = 0.02
    up_after: int = 10
    vp8_hd: bool = False
    _bad: int = 0
    _good: int = 0

    def reset(self) -> None:
        self._bad = self._good = 0

    def top(self, measures: list[Measure]) -> str:
        """The best mode these links' codecs allow."""
        vp8 = any((m.codec or "").upper() == "VP8" for m in measures)
        return "full" if vp8 and not self.vp8_hd else "hd"

    def step(self, mode: str, measures: list[Measure]) -> tuple[str, str] | None:
        """The mode to move to and why, or None to stay."""
        losses = [m.loss for m in measures if m.loss is not None]
        if not losses and not any(m.estimate_kbps is not None for m in measures):
            return None
        loss = max(losses, default=0.0)
        limits = [m.estimate_kbps for m in measures if m.limited and m.estimate_kbps]
        estimate = min(limits) if limits else None  # None: no link is at its limit
        top = MODES.index(self.top(measures))
        i = MODES.index(mode)
        if i < top:
            self.reset()
            return MODES[top], "the codec in use cannot afford HD"
        short = estimate is not None and estimate < FLOOR_KBPS[mode]
        if loss > self.loss_down or short:
            self._bad, self._good = self._bad + 1, 0
        elif loss < self.loss_up:
            self._good, self._bad = self._good + 1, 0
        if self._bad >= self.down_after and i < len(MODES) - 1:
            self._bad = 0
            why = (f"sustained loss ({loss:.0%})" if loss > self.loss_down
                   else f"bandwidth estimate {estimate:.0f} kbps")
            return MODES[i + 1], why
        if self._good >= self.up_after and i > top:
            up = MODES[i - 1]
            if estimate is not None and estimate < FLOOR_KBPS[up]:
                return None  # low loss, but no room yet for the mode above
            self._good = 0
            return up, "loss has stayed low"
        return None
