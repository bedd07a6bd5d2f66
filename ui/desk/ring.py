"""Ringing for a new call: a sound, a tray notification, and the window asking for attention.

The sound comes from QtMultimedia's QSoundEffect (PySide6-Addons, a dependency), else from
the system's own player (paplay, pw-play or aplay) through QProcess, else the system beep.
With no sound server at all (offscreen, CI) QtMultimedia is not even loaded and the desk
beeps. The status bar says which, so a silent desk is never a surprise.
"""

from __future__ import annotations

import shutil
from typing import Any

from PySide6.QtCore import QObject, QProcess, QTimer, QUrl, Signal, Slot
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from ui import theme
from ui.desk.audio import audio_output_problem, multimedia

RING_WAV = theme.resource("ring.wav")
_PLAYERS = ("paplay", "pw-play", "aplay")


def _sound_effect() -> Any | None:
    module = multimedia()
    if module is None or module.QMediaDevices.defaultAudioOutput().isNull():
        return None
    effect = module.QSoundEffect()
    effect.setSource(QUrl.fromLocalFile(str(RING_WAV)))
    effect.setVolume(0.8)
    return effect


class Ringer(QObject):
    """Rings every few seconds while anything rings; stops at once when nothing does.

    Signals:
        rang(str): one ring went out (the notification text); tests and the log watch it.
    """

    rang = Signal(str)

    def __init__(self, window: QWidget, *, interval_ms: int = 4000,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._window = window
        self._text = ""
        self._effect = _sound_effect() if RING_WAV.exists() else None
        self._problem = audio_output_problem()
        self._player = (next((p for p in _PLAYERS if shutil.which(p)), None)
                        if self._problem is None else None)
        self._process: QProcess | None = None
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(theme.icon(), self)
            self.tray.setToolTip("telehub desk")
            self.tray.messageClicked.connect(self.on_message_clicked)
            self.tray.show()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_tick)

    @property
    def sound(self) -> str:
        """Which sound path is in use, in words for the status bar."""
        if self._effect is not None:
            return "ring: QtMultimedia"
        if self._player is not None and RING_WAV.exists():
            return f"ring: {self._player} (QtMultimedia cannot play here)"
        if self._problem is not None:
            return "ring: system beep only"  # the voices' status says why (no sound server)
        return "ring: system beep only (no QtMultimedia, no sound player)"

    @property
    def ringing(self) -> bool:
        return self._timer.isActive()

    def ring(self, text: str) -> None:
        """Start (or update) ringing; the first ring goes out at once."""
        new = not self.ringing or text != self._text
        self._text = text
        if not self.ringing:
            self._timer.start()
        if new:
            self._ring_once(notify=True)

    def stop(self) -> None:
        self._timer.stop()
        if self._effect is not None:
            self._effect.stop()

    @Slot()
    def on_tick(self) -> None:
        self._ring_once(notify=False)

    @Slot()
    def on_message_clicked(self) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()

    def _ring_once(self, notify: bool) -> None:
        if self._effect is not None:
            self._effect.play()
        elif self._player is not None and RING_WAV.exists():
            if self._process is None or self._process.state() == QProcess.ProcessState.NotRunning:
                self._process = QProcess(self)
                self._process.start(self._player, [str(RING_WAV)])
        else:
            QApplication.beep()
        if notify and self.tray is not None:
            self.tray.showMessage("Call waiting", self._text,
                                  QSystemTrayIcon.MessageIcon.Warning, 10_000)
        QApplication.alert(self._window)  # flashes the task bar entry when behind others
        self.rang.emit(self._text)
