"""Which video codec a call uses: H.264 first where both ends have it, VP8 otherwise.

H.264 costs about a fifth of VP8's CPU at 1280x720 (PyAV here: ~7.5 ms against ~34 ms to
encode and decode one frame), so HD at 30 fps is affordable with it on a small care-home PC.
aiortc and Chromium have H.264; Firefox without the OpenH264 plugin offers VP8 only, and then
the answer lands on VP8 by itself. What was agreed is read back from the answer's SDP, so
the quality indicator can say it.
"""

from __future__ import annotations

import fractions
import re
from collections.abc import Iterator

import av
from aiortc import RTCRtpSender, RTCRtpTransceiver, rtcrtpsender
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import MAX_FRAME_RATE, H264Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

#: x264's speed preset for calls. aiortc leaves x264 at its default ("medium"), about twice
#: the CPU of "superfast" for a 720p picture that a nurse cannot tell apart at 1-3 Mbps.
X264_PRESET = "superfast"

#: The default order: H.264 (both packetization modes aiortc knows), then VP8.
PREFERRED: tuple[str, ...] = ("H264", "VP8")
#: How the indicator names each codec.
LABELS = {"H264": "H.264", "VP8": "VP8", "VP9": "VP9", "AV1": "AV1"}


def prefer_codecs(transceiver: RTCRtpTransceiver, order: tuple[str, ...] = PREFERRED,
                  ) -> None:
    """Puts the video codecs named in ``order`` first, in that order, each with its
    retransmission (rtx) entry; codecs not named are left out (the other end then cannot
    pick one we did not ask for)."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    chosen = []
    for name in order:
        chosen += [c for c in caps if c.mimeType.lower() == f"video/{name.lower()}"]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    if not chosen:
        raise ValueError(f"none of the codecs {', '.join(order)} is available")
    transceiver.setCodecPreferences(chosen + rtx)


_MEDIA = re.compile(r"^m=video \d+ \S+ ([\d ]+)$")
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/]+)/")


def agreed_video_codec(answer_sdp: str) -> str | None:
    """The codec the answer put first for video (what both ends will send), e.g. "H264"."""
    order: list[str] = []
    names: dict[str, str] = {}
    in_video = False
    for line in answer_sdp.splitlines():
        if line.startswith("m="):
            m = _MEDIA.match(line)
            in_video = m is not None and not order
            if m is not None and not order:
                order = m.group(1).split()
            continue
        if in_video:
            r = _RTPMAP.match(line)
            if r is not None:
                names[r.group(1)] = r.group(2)
    for pt in order:
        name = names.get(pt, "")
        if name.lower() not in ("rtx", "red", "ulpfec", "flexfec-03", ""):
            return name.upper()
    return None


#: What a browser is told to start sending at, and never to go below (kbps). aiortc's REMB
#: follows what arrives, so a browser that starts low (Chromium starts at 300 kbps) is held
#: there and cuts its 720p to a few frames a second or to a smaller size; these are the
#: hints Chromium reads from the other end's SDP (Firefox ignores them).
BROWSER_START_KBPS = 1500
BROWSER_MIN_KBPS = 500


def with_bitrate_hints(sdp: str) -> str:
    """``sdp`` with Chromium's start and minimum bitrate on each H.264 and VP8 format."""
    pts = {m.group(1) for line in sdp.splitlines()
           if (m := _RTPMAP.match(line)) and m.group(2).upper() in ("H264", "VP8")}
    hints = (f"x-google-start-bitrate={BROWSER_START_KBPS};"
             f"x-google-min-bitrate={BROWSER_MIN_KBPS}")
    out = []
    for line in sdp.splitlines():
        fmtp = re.match(r"^a=fmtp:(\d+) (.*)$", line)
        if fmtp and fmtp.group(1) in pts:
            line = f"{line};{hints}"
        out.append(line)
        r = _RTPMAP.match(line)
        if r and r.group(1) in pts and r.group(2).upper() == "VP8":
            out.append(f"a=fmtp:{r.group(1)} {hints}")  # aiortc writes no fmtp for VP8
    return "\r\n".join(out) + "\r\n"


def codec_label(name: str | None) -> str:
    return LABELS.get(name or "", name or "")


def sends_media(sdp: str) -> bool:
    """Whether the party that wrote ``sdp`` sends any media (a browser that was refused the
    camera and microphone answers recvonly: from it only RTCP arrives, about once a second)."""
    directions = [line[2:].strip() for line in sdp.splitlines()
                  if line.strip() in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")]
    return not directions or any(d in ("sendrecv", "sendonly") for d in directions)


class RealtimeH264Encoder(H264Encoder):
    """aiortc's H.264 encoder with x264 set for real-time calls (:data:`X264_PRESET`)."""

    def _encode_frame(self, frame: av.VideoFrame, force_keyframe: bool) -> Iterator[bytes]:
        codec = self.codec
        rate = (codec.bit_rate or 1) if codec is not None else 1
        if codec is not None and (
                frame.width != codec.width or frame.height != codec.height
                or abs(self.target_bitrate - rate) / rate > 0.1):
            # the same reasons aiortc starts a new encoder for (size, bitrate)
            self.buffer_data, self.buffer_pts, self.codec = b"", None, None
        if self.codec is None:
            codec = av.CodecContext.create("libx264", "w")
            codec.width, codec.height = frame.width, frame.height
            codec.bit_rate = self.target_bitrate
            codec.pix_fmt = "yuv420p"
            codec.framerate = fractions.Fraction(MAX_FRAME_RATE, 1)
            codec.time_base = fractions.Fraction(1, MAX_FRAME_RATE)
            codec.options = {"level": "31", "tune": "zerolatency", "preset": X264_PRESET}
            codec.profile = "Baseline"
            self.codec = codec
        yield from super()._encode_frame(frame, force_keyframe)


def _encoder_for(codec: RTCRtpCodecParameters) -> Encoder:
    if codec.mimeType.lower() == "video/h264":
        return RealtimeH264Encoder()
    return get_encoder(codec)


def use_realtime_h264() -> None:
    """Makes every aiortc sender of this process encode H.264 with :class:`RealtimeH264Encoder`.
    aiortc has no setting for the encoder's options; its sender looks the encoder up through
    this module-level name, the one seam there is. Idempotent."""
    rtcrtpsender.get_encoder = _encoder_for  # type: ignore[attr-defined]
