"""The desk's side of a photo into the record (issue 17): ask, see, attach; and a record's photos.

* :class:`CallPhotos` on the call screen: "Ask for a photo" (Ctrl+Shift+P), what the site
  answered, the photo at the size that fits, "Attach to the record".
* :class:`RecordPhotos`: the photos of one record, for History and the patient's context
  (``show_record(uuid)``); any view can hold one.
* :class:`PhotoLibrary`: where they come from: the desk's own store first (so a desk that is
  offline still shows them), else the hub (``GET /photos/{id}/image``, audited there); each
  look is audited in the desk's store too (records/photos.py).
* :class:`DeskPhotos` wires the call screen to the engine, the library and the record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from hub.client import HubClient, HubError
from hub.contract import signaling as p
from records.photos import HeldPhoto, LocalPhotos, PhotoSyncState
from records.store import Store
from ui.announce import announce
from ui.desk.bridge import CallBridge
from ui.desk.work import Workers
from ui.labels import status_label

log = logging.getLogger("telehub.desk.photos")

ASK_KEYS = "Ctrl+Shift+P"


def describe(photo: HeldPhoto) -> str:
    when = photo.taken_at.astimezone().strftime("%d %b %H:%M")
    return (f"Photo {when}, {photo.width} × {photo.height}, consent {photo.consent} "
            f"(confirmed by {photo.consent_by_name})")


class PhotoImage(QLabel):
    """One photo, scaled to fit its box (never enlarged), named for a screen reader."""

    def __init__(self, box: tuple[int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = box
        self.photo: HeldPhoto | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(*box)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # reachable by Tab: its name is read
        self.setAccessibleName("No photo")

    def show_photo(self, photo: HeldPhoto) -> None:
        pixmap = QPixmap()
        if not pixmap.loadFromData(photo.data):
            self.setText("The photo could not be shown")
            return
        self.photo = photo
        self.setPixmap(pixmap.scaled(*self.box, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation))
        self.setAccessibleName(describe(photo))
        self.setToolTip(describe(photo))

    def clear_photo(self) -> None:
        self.photo = None
        self.clear()
        self.setAccessibleName("No photo")


class CallPhotos(QWidget):
    """The call screen's photo controls.

    Signals:
        askRequested(): the nurse asks the site for a photo.
        attachRequested(UUID): the shown photo is to be attached to the call's record.
    """

    askRequested = Signal()
    attachRequested = Signal(UUID)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ask = QPushButton("Ask for a photo")
        self.ask.setAccessibleName("Ask the site for a photo")
        self.ask.setToolTip(f"Ask the site for a still at the camera's full resolution "
                            f"({ASK_KEYS})")
        self.ask.setShortcut(QKeySequence(ASK_KEYS))
        self.attach = QPushButton("Attach to the record")
        self.attach.setAccessibleName("Attach the photo to the triage record")
        self.attach.setEnabled(False)
        self.status = status_label("Photo from the site")
        self.status.setWordWrap(True)
        self.image = PhotoImage((320, 240))
        self.image.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.ask)
        row.addWidget(self.status, 1)
        row.addWidget(self.attach)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(row)
        col.addWidget(self.image)
        self.ask.clicked.connect(self.askRequested)
        self.attach.clicked.connect(self.on_attach_clicked)

    def reset(self) -> None:
        self.status.setText("")
        self.image.clear_photo()
        self.image.setVisible(False)
        self.attach.setEnabled(False)
        self.attach.setText("Attach to the record")

    def set_live(self, live: bool) -> None:
        self.ask.setEnabled(live)

    def say(self, text: str, assertive: bool = False) -> None:
        self.status.setText(text)
        announce(self.status, text, assertive=assertive)

    def show_photo(self, photo: HeldPhoto, attached: bool) -> None:
        self.image.show_photo(photo)
        self.image.setVisible(True)
        self.attach.setEnabled(not attached)
        self.attach.setText("Attached to the record" if attached else "Attach to the record")
        self.say(f"The photo has arrived ({photo.width} × {photo.height}, consent "
                 f"{photo.consent})." + ("" if attached else " Attach it to the record?"))

    def attached(self, photo: HeldPhoto) -> None:
        self.attach.setEnabled(False)
        self.attach.setText("Attached to the record")
        self.say("The photo is attached to the record; it syncs with it.")

    @Slot()
    def on_attach_clicked(self) -> None:
        if self.image.photo is not None:
            self.attachRequested.emit(self.image.photo.photo_id)


class PhotoLibrary:
    """The desk's photos (blocking: run it on a worker thread)."""

    def __init__(self, store: Store, hub: HubClient | None, actor: str) -> None:
        self.store, self.hub, self.actor = store, hub, actor

    def fetch(self, photo_id: UUID) -> HeldPhoto:
        """The photo, from the desk's store if it holds it, else from the hub (a view the
        hub audits), then kept."""
        with self.store.unit_of_work() as uow:
            held = LocalPhotos(uow.session).get(photo_id, self.actor)
        if held is not None:
            return held
        if self.hub is None:
            raise LookupError("the desk holds no such photo and has no hub")
        out = self.hub.photo(photo_id)
        _kind, data = self.hub.photo_image(photo_id)
        photo = HeldPhoto(
            photo_id=out.photo_id, call_id=out.call_id, request_id=out.request_id,
            content_type=out.content_type, width=out.width, height=out.height, size=out.size,
            sha256=out.sha256, data=data, consent=out.consent.value,
            consent_by_name=out.consent_by_name, taken_at=out.taken_at,
            record_uuid=None, sync_state=None)
        with self.store.unit_of_work() as uow:
            photos = LocalPhotos(uow.session)
            photos.keep(photo, self.actor)
            if out.record_uuid is not None:  # attached at the hub already (by another desk)
                photos.attach(out.photo_id, out.record_uuid, self.actor)
                photos.mark(out.photo_id, PhotoSyncState.SYNCED)
        return photo

    def attach(self, photo_id: UUID, record_uuid: UUID) -> HeldPhoto:
        with self.store.unit_of_work() as uow:
            return LocalPhotos(uow.session).attach(photo_id, record_uuid, self.actor)

    def of_record(self, record_uuid: UUID) -> list[HeldPhoto]:
        """The record's photos: the desk's own, and those the hub holds that it does not
        (if the hub can be reached: offline, the desk's own)."""
        with self.store.unit_of_work() as uow:
            photos = LocalPhotos(uow.session)
            held = [photos.get(h.photo_id, self.actor) for h in photos.of_record(record_uuid)]
        mine = [h for h in held if h is not None]
        if self.hub is None:
            return mine
        try:
            theirs = self.hub.record_photos(record_uuid)
        except HubError as exc:
            log.info("the hub's photos of a record are not to be had: %s", exc.summary)
            return mine
        known = {h.photo_id for h in mine}
        return mine + [self.fetch(o.photo_id) for o in theirs if o.photo_id not in known]


class RecordPhotos(QWidget):
    """The photos of one record, small, for History and the patient's context.

    ``show_record(uuid)`` loads them off the UI thread (``workers``) from ``library``.
    """

    def __init__(self, library: Callable[[], PhotoLibrary | None], workers: Workers,
                 parent: QWidget | None = None, *, most: int = 4) -> None:
        super().__init__(parent)
        self._library, self._workers = library, workers
        self.record_uuid: UUID | None = None
        self.title = status_label("Photos of the chosen record", "Photos: none")
        self.images = [PhotoImage((160, 120)) for _ in range(most)]
        row = QHBoxLayout()
        row.addWidget(self.title)
        for image in self.images:
            image.setVisible(False)
            row.addWidget(image)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)

    def show_record(self, record_uuid: UUID | None) -> None:
        self.record_uuid = record_uuid
        library = self._library()
        if record_uuid is None or library is None:
            self.set_photos(record_uuid, [])
            return
        # Answered through bound slots: they run on the UI thread (a lambda would not).
        self._workers.run(_photos_of, library, record_uuid, on_done=self.on_loaded,
                          on_failed=self.on_load_failed)

    @Slot(object)
    def on_loaded(self, loaded: object) -> None:
        assert isinstance(loaded, tuple)
        self.set_photos(*loaded)

    @Slot(BaseException)
    def on_load_failed(self, exc: BaseException) -> None:
        self.title.setText("Photos: could not be loaded")

    def set_photos(self, record_uuid: UUID | None, photos: list[HeldPhoto]) -> None:
        if record_uuid != self.record_uuid:
            return  # another record was chosen meanwhile
        self.title.setText(f"Photos: {len(photos)}" if photos else "Photos: none")
        for image, photo in zip(self.images, photos + [None] * len(self.images), strict=False):
            if photo is None:
                image.clear_photo()
                image.setVisible(False)
            else:
                image.show_photo(photo)
                image.setVisible(True)


def _photos_of(library: PhotoLibrary, record_uuid: UUID) -> tuple[UUID, list[HeldPhoto]]:
    return record_uuid, library.of_record(record_uuid)


class DeskPhotos(QObject):
    """Asks for the photo, shows it, attaches it to the call's record.

    ``bridge`` is the desk's CallBridge (``ask_photo``, ``photoAnswered``); ``current_call``
    and ``current_record`` say which call is on the screen and which record it has.
    """

    def __init__(self, bridge: CallBridge, library: PhotoLibrary, workers: Workers,
                 panel: CallPhotos, current_call: Callable[[], str | None],
                 current_record: Callable[[], UUID | None],
                 attached: Callable[[], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.library, self.workers, self.panel = bridge, library, workers, panel
        self._call, self._record, self._attached = current_call, current_record, attached
        self.photos: dict[UUID, HeldPhoto] = {}  # of this desk's calls, as they arrived
        panel.askRequested.connect(self.on_ask)
        panel.attachRequested.connect(self.on_attach)
        bridge.photoAnswered.connect(self.on_answered)

    @Slot()
    def on_ask(self) -> None:
        call_id = self._call()
        if call_id is None:
            return
        self.bridge.ask_photo(call_id)
        self.panel.say("Asked the site for a photo; they ask the resident's consent first.")

    @Slot(object)
    def on_answered(self, message: object) -> None:
        if not isinstance(message, p.PhotoReady | p.PhotoDeclined):
            return
        if message.call_id != self._call():
            return
        if isinstance(message, p.PhotoDeclined):
            self.panel.say("The site declined: the resident did not consent. No photo was "
                           "taken.", assertive=True)
            return
        self.panel.say(f"The photo is coming ({message.width} × {message.height})…")
        self.workers.run(self.library.fetch, UUID(message.photo_id), on_done=self._arrived,
                         on_failed=self._failed)

    @Slot(object)
    def _arrived(self, photo: object) -> None:
        assert isinstance(photo, HeldPhoto)
        self.photos[photo.photo_id] = photo
        if photo.call_id == self._call():
            self.panel.show_photo(photo, attached=photo.record_uuid is not None)

    @Slot(BaseException)
    def _failed(self, exc: BaseException) -> None:
        words = str(exc) if isinstance(exc, HubError) else type(exc).__name__
        self.panel.say(f"The photo could not be fetched: {words}", assertive=True)

    @Slot(UUID)
    def on_attach(self, photo_id: UUID) -> None:
        record_uuid = self._record()
        if record_uuid is None:
            self.panel.say("There is no triage record to attach it to.")
            return

        self.workers.run(self.library.attach, photo_id, record_uuid,
                         on_done=self.on_attached, on_failed=self._failed)

    @Slot(object)
    def on_attached(self, photo: object) -> None:
        assert isinstance(photo, HeldPhoto)
        self.photos[photo.photo_id] = photo
        self.panel.attached(photo)
        if self._attached is not None:
            self._attached()
