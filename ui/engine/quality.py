"""The call-quality indicator of the desk and the station: a level, the figures, and the truth
when no picture is arriving (never a frozen picture labelled "Good")."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from calls.codecs import codec_label
from calls.liveness import MediaResumed, MediaStalled
from calls.modes import MODE_LABELS
from calls.peer import LinkQuality
from calls.session import QualityReport

NO_PICTURE = "No picture"
COLOURS = {"Good": "#7ee787", "Fair": "#ffd866", "Poor": "#ff6b6b",
           "Connecting": "#93a1b0", NO_PICTURE: "#ff6b6b"}


def no_picture_words(seconds: float) -> str:
    return f"no picture for {max(1, round(seconds))} s — reconnecting"


def quality_words(links: tuple[LinkQuality, ...], mode: str,
                  sent_size: tuple[int, int] | None = None) -> tuple[str, str]:
    """("Good"/"Fair"/"Poor"/"No picture", details) from the worst link of the last second.

    The details name what arrives (its size and codec) and what we send (its size, or the
    mode while none was sent yet)."""
    if not links:
        return "Connecting", ""
    silent = max(q.silent_for for q in links)
    if silent > 0:
        return NO_PICTURE, no_picture_words(silent)
    if all(q.state != "connected" for q in links):
        return "Connecting", ""
    rtt = max((q.rtt_ms for q in links if q.rtt_ms is not None), default=None)
    losses = [x for q in links for x in (q.loss_in, q.loss_out) if x is not None]
    loss = max(losses, default=0.0)
    fps = min(q.fps_in for q in links)
    if loss > 0.05 or (rtt is not None and rtt > 400):
        level = "Poor"
    elif loss > 0.02 or (rtt is not None and rtt > 150):
        level = "Fair"
    else:
        level = "Good"
    parts = [f"loss {loss:.0%}", f"{fps:.0f} fps in"]
    if rtt is not None:
        parts.insert(0, f"rtt {rtt:.0f} ms")
    sized = [q for q in links if q.height_in]
    if sized:
        q = min(sized, key=lambda q: q.height_in)
        parts.append(f"receiving {q.width_in}x{q.height_in}"
                     + (f" {codec_label(q.codec)}" if q.codec else ""))
    codec = next((q.codec for q in links if q.codec), None)
    sending = (f"{sent_size[0]}x{sent_size[1]}" if sent_size and mode != "audio_only"
               else MODE_LABELS.get(mode, mode))
    parts.append(f"sending {sending}" + (f" {codec_label(codec)}" if codec and
                                         mode != "audio_only" else ""))
    return level, " · ".join(parts)


class QualityIndicator(QLabel):
    """A coloured dot, the level and the figures; the level is in the accessible name and
    the figures in its description (rich text for the eye, plain words for the ear)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("●  —", parent)
        self.setAccessibleName("Call quality")
        self.level = "Connecting"
        self.detail = ""
        self._stalled: set[str] = set()  # participants nothing arrives from

    def show_level(self, level: str, detail: str) -> None:
        self.level, self.detail = level, detail
        colour = COLOURS.get(level, COLOURS["Connecting"])
        # The figures in a quieter grey that still reads at 4.5:1 on the program's
        # background: the desk is dark, the station light.
        light = self.palette().window().color().lightness() > 128
        grey = "#4f5d6b" if light else "#aab6c3"
        self.setText(f"<span style='color:{colour}'>●</span> {level}"
                     + (f"  <span style='color:{grey}'>{detail}</span>" if detail else ""))
        self.setAccessibleName(f"Call quality {level}")
        self.setAccessibleDescription(detail)

    def reset(self) -> None:
        self._stalled.clear()
        self.show_level("Connecting", "")

    def on_report(self, report: QualityReport) -> None:
        level, detail = quality_words(report.links, report.profile, report.sent_size)
        if self._stalled and level != NO_PICTURE:
            return  # the liveness word stands until media resumes
        self.show_level(level, detail)

    def on_liveness(self, event: MediaStalled | MediaResumed) -> None:
        """Said at once (within a second of media stopping), not at the next report."""
        if isinstance(event, MediaStalled):
            self._stalled.add(event.participant_id)
            self.show_level(NO_PICTURE, no_picture_words(event.silent_for))
        else:
            self._stalled.discard(event.participant_id)
            if not self._stalled:
                self.show_level("Connecting", "picture back — measuring")
