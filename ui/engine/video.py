"""A video tile that paints the latest frame of one stream, scaled to fit, never queued."""

from __future__ import annotations

import time
from collections.abc import Callable

import av
from av.video.reformatter import VideoReformatter
from PySide6.QtCore import QRectF, QSize, Qt, SignalInstance, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui.engine.frames import LatestFrame, RgbFrame, to_rgb


class VideoView(QWidget):
    """Paints the newest frame from a :class:`LatestFrame` when told one is waiting.

    The YUV to RGB conversion happens here, at most once per painted frame: frames that
    arrive between two paints are skipped, never converted.
    """

    def __init__(self, name: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(160, 120)
        self.placeholder = placeholder
        self.overlay = ""
        self.stale = ""  # the picture shown is old: said across it (cleared by a new frame)
        self.source: LatestFrame | None = None
        self.image: QImage | None = None
        self._buffer = b""
        # Its own converter: a frame's cached one (frame.reformat) may be in use on the
        # engine thread at the same time (scaling a camera larger than the call's profile),
        # and one converter used from two threads crashes.
        self._rgb = VideoReformatter()
        self._arrived = 0.0
        self.frames = 0  # frames taken from the source (each converted once)
        self.painted = 0
        # Called with (arrival-to-paint seconds) after each paint of a new frame.
        self.on_painted: Callable[[float], None] | None = None

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    def follow(self, source: LatestFrame, ready: SignalInstance) -> None:
        """Paints ``source``'s frames, each when ``ready`` says one waits; the source
        converts them at this view's size (on its own thread)."""
        self.source = source
        self._tell_size()
        ready.connect(self.on_frame_ready)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._tell_size()

    def _tell_size(self) -> None:
        if self.source is not None:
            ratio = self.devicePixelRatioF()
            self.source.fit = (max(2, round(self.width() * ratio)),
                               max(2, round(self.height() * ratio)))

    def clear(self, placeholder: str | None = None) -> None:
        self.image, self._buffer = None, b""
        if placeholder is not None:
            self.placeholder = placeholder
        self.update()

    def set_overlay(self, text: str) -> None:
        self.overlay = text
        self.update()

    def set_stale(self, text: str) -> None:
        """Marks the picture shown as old, ``text`` saying so across its top (the picture
        dimmed under it), until the next new frame or ``set_stale("")``. The accessible
        description says it too."""
        self.stale = text
        self.setAccessibleDescription(text)
        self.update()

    @Slot()
    def on_frame_ready(self) -> None:
        if self.source is None:
            return
        taken = self.source.take()
        if taken is None:
            return
        frame, self._arrived = taken
        if self.stale:
            self.set_stale("")  # live again
        self.image = _to_qimage(frame, self)
        self.frames += 1
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#0b0e12"))
        if self.image is not None and not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - size.width()) / 2
            y = (self.height() - size.height()) / 2
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
        elif self.placeholder:
            self._caption(painter, self.placeholder, QColor("#93a1b0"))
        if self.stale:
            painter.fillRect(self.rect(), QColor(0, 0, 0, 110))  # an old picture looks it
            band = QRectF(0, 0, self.width(), max(36.0, self.height() / 7))
            painter.fillRect(band, QColor(20, 10, 10, 225))
            font = QFont(self.font())
            font.setPointSizeF(max(10.0, min(16.0, self.height() / 26)))
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor("#ffd866"))
            painter.drawText(band, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.stale)
        if self.overlay:
            painter.fillRect(self.rect(), QColor(0, 0, 0, 150))
            self._caption(painter, self.overlay, QColor("#ffd866"))
        painter.end()
        if self._arrived:
            delay, self._arrived = time.perf_counter() - self._arrived, 0.0
            self.painted += 1
            if self.on_painted is not None:
                self.on_painted(delay)

    def _caption(self, painter: QPainter, text: str, colour: QColor) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(10.0, min(18.0, self.height() / 22)))
        painter.setFont(font)
        painter.setPen(colour)
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         text)


def _to_qimage(frame: av.VideoFrame | RgbFrame, owner: VideoView) -> QImage:
    rgb = frame if isinstance(frame, RgbFrame) else to_rgb(frame, None, owner._rgb)
    # QImage does not copy: the bytes live on the widget until the next frame replaces them.
    owner._buffer = rgb.data
    return QImage(owner._buffer, rgb.width, rgb.height, rgb.stride,
                  QImage.Format.Format_RGB888)
