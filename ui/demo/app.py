"""telehub-demo: a hub night in a box.

Starts a real hub on its own SQLite file, enrols a care home, a prison, a home patient (a
Gold Line invitation) and a demo nurse, and lets synthetic callers place a bounded number of
calls through the real call engine. The nurse desk opens signed in as the demo nurse, so you
can answer, triage and sign off yourself; with --auto the demo nurse does it, and with no
display the demo runs headless, does it all itself and prints a summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import signal
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from records.data_home import data_home
from ui.demo import environment
from ui.demo.callers import PlacedCall, SyntheticCallers
from ui.demo.enrol import ADMIN, DemoHubApi, Enrolment, new_password
from ui.demo.errors import DemoError
from ui.demo.hubprocess import DemoHub, check_port_free
from ui.demo.nurse import DemoNurse
from ui.demo.scenarios import Scenario, night

log = logging.getLogger("telehub.demo")
_print_lock = threading.Lock()


def say(line: str, *, stream: TextIO | None = None) -> None:
    with _print_lock:
        print(line, file=stream or sys.stdout, flush=True)


def event(line: str) -> None:
    say(f"  {time.strftime('%H:%M:%S')}  {line}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="telehub-demo", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5,
                        help="how many calls the synthetic callers place (default: %(default)s)")
    parser.add_argument("--auto", action="store_true",
                        help="the demo nurse answers and records outcomes by itself")
    parser.add_argument("--headless", action="store_true",
                        help="no window even where there is a display (implies --auto)")
    parser.add_argument("--port", type=int, default=8470,
                        help="the demo hub's port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--gap", type=float, default=None,
                        help="seconds between calls (default: 1 headless, 4 with --auto, 20 "
                             "when you answer)")
    parser.add_argument("--hold", type=float, default=2.0,
                        help="seconds the demo nurse stays on each call (default: %(default)s)")
    parser.add_argument("--media", choices=("synthetic", "devices"), default="synthetic",
                        help="the desk's camera and microphone, or the test pattern and tone "
                             "(default: %(default)s)")
    parser.add_argument("--camera", help="camera device for --media devices")
    parser.add_argument("--microphone", help="microphone for --media devices")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the demo keeps its hub database, records, logs and "
                             "screenshots (default: $XDG_DATA_HOME/telehub/demo, i.e. "
                             "~/.local/share/telehub/demo); each run starts it afresh")
    parser.add_argument("--timeout", type=float, default=None,
                        help="a headless or --auto run gives up after this many seconds "
                             "(default: 60 + 20 per call)")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 50:
        parser.error("--calls must be between 1 and 50")
    return args


def fresh_data_dir(data: Path) -> None:
    """Removes what an earlier run left (only the demo's own files), keeps the folder."""
    try:
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in ("hub.db", "hub.db-wal", "hub.db-shm", "hub.log", "demo.log"):
            (data / name).unlink(missing_ok=True)
        for name in ("desk", "screenshots"):
            if (data / name).exists():
                shutil.rmtree(data / name)
        (data / "screenshots").mkdir()
    except OSError as exc:
        raise DemoError(f"cannot keep the demo's files in {data} ({exc.strerror}); choose "
                        "another folder with --data-dir") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except DemoError as exc:
        say(f"telehub-demo: {exc}", stream=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("telehub-demo: stopped", stream=sys.stderr)
        return 130


@dataclasses.dataclass
class Night:
    """How the night ended: None when it ran its course."""

    problem: str | None = None


def run(args: argparse.Namespace) -> int:
    data: Path = args.data_dir or data_home("demo")
    # --- what this computer offers ---------------------------------------------------------
    why_headless = "--headless" if args.headless else environment.display_problem()
    headless = why_headless is not None
    auto = args.auto or headless
    if headless and not args.headless:
        say(f"telehub-demo: {why_headless}: running headless; the demo nurse answers the "
            "calls itself (on a desktop you can answer them yourself)")
    check_port_free("127.0.0.1", args.port)  # before anything slow
    if args.media == "devices":
        problem = environment.camera_problem(args.camera, args.microphone)
        if problem is not None:
            say(f"telehub-demo: {problem}: the desk sends the test pattern and tone instead "
                "(name the device with --camera/--microphone)")
            args.media = "synthetic"
    keyring_note = None if headless else environment.keyring_problem()
    if keyring_note is not None:
        say(f"telehub-demo: {keyring_note}: fine for the demo (its nurse's password stays in "
            "memory); for real use, install one (gnome-keyring) so the desk can remember "
            "passwords")

    fresh_data_dir(data)
    logging.basicConfig(filename=data / "demo.log", level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("telehub").setLevel(logging.INFO)
    plan = night(args.calls)
    gap = args.gap if args.gap is not None else (1.0 if headless else 4.0 if auto else 20.0)
    timeout = args.timeout or 60.0 + 20.0 * args.calls

    say(f"telehub demo: a hub night in a box ({args.calls} calls; data in {data})")
    hub = DemoHub(data, port=args.port)
    admin_password = new_password()  # per run, in memory only
    started = time.monotonic()
    api: DemoHubApi | None = None
    try:
        hub.prepare(ADMIN, admin_password)
        url = hub.start()
        event(f"hub running at {url} (database {data / 'hub.db'}; log {hub.log_path})")
        api = DemoHubApi(url)
        enrolment = api.enrol(admin_password)
        del admin_password
        names = ", ".join(s.name for s in enrolment.sites.values())
        event(f"enrolled the demo nurse ({enrolment.nurse}) and {names}")
        return night_at_the_desk(args, data, url, enrolment, plan, gap, timeout, headless,
                                 auto, hub, started)
    finally:
        if api is not None:
            api.close()
        hub.stop()


def night_at_the_desk(args: argparse.Namespace, data: Path, url: str, enrolment: Enrolment,
                      plan: list[Scenario], gap: float, timeout: float, headless: bool,
                      auto: bool, hub: DemoHub, started: float) -> int:
    """The Qt part: the desk signed in, the callers calling, the demo nurse, the summary."""
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from calls.session import CallState
    from hub.client import ws_url
    from records import news2
    from ui import theme
    from ui.desk import app as desk_app
    from ui.desk.auth import PasswordVault
    from ui.desk.window import DeskParts, DeskWindow

    qt_log = logging.getLogger("telehub.demo.qt")

    def qt_message(mode: QtMsgType, _context: object, message: str) -> None:
        # Qt's own chatter (offscreen size hints, fonts) goes to the log, not the terminal.
        qt_log.log(logging.WARNING if mode != QtMsgType.QtDebugMsg else logging.DEBUG, message)

    qInstallMessageHandler(qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("telehub-demo")
    theme.apply(app)

    desk_args = desk_app.parse_args(["--hub", url, "--user", enrolment.nurse, "--data-dir",
                                     str(data / "desk"), "--media", args.media]
                                    + (["--camera", args.camera] if args.camera else [])
                                    + (["--microphone", args.microphone]
                                       if args.microphone else []))
    parts = desk_app.make_parts(desk_args)
    assert isinstance(parts, DeskParts)
    if headless:
        from keyring.backends import fail

        # Nothing to remember headless, and a locked keyring must not hold the run up.
        parts = dataclasses.replace(parts, vault=PasswordVault(
            fail.Keyring()))  # type: ignore[no-untyped-call]
    parts = dataclasses.replace(parts, sync_idle_s=1.0)
    window = DeskWindow(parts, url, enrolment.nurse)
    window.setWindowTitle("telehub desk — demo nurse (telehub-demo)")
    window.show()
    window.on_sign_in_submitted(url, enrolment.nurse, enrolment.nurse_password, False)

    nurse = DemoNurse(window, plan, data / "screenshots" if auto else None, auto=auto,
                      hold_s=args.hold)
    nurse.said.connect(event)
    night = Night()

    def placed(call: PlacedCall) -> None:
        if call.state is CallState.QUEUED:
            s = call.scenario
            obs = s.observations.model_dump(exclude_none=True)
            score = news2.score(news2.Observations(**obs))
            event(f"call {call.number} placed: {call.site_name} · {s.urgency.value} · "
                  f"{s.reason} · NEWS2 {score.total}{'' if score.complete else ' (partial)'}")

    callers = SyntheticCallers(ws_url(url), enrolment.sites,
                               plan, gap, placed)

    def stop(problem: str | None = None) -> None:
        if problem and night.problem is None:
            night.problem = problem
        app.quit()

    def watch() -> None:
        if not hub.running:
            stop(f"the demo's hub stopped unexpectedly ({hub.last_error()}); run "
                 f"telehub-demo again (the hub's log: {hub.log_path})")
        elif callers.problem:
            stop(callers.problem)
        elif window.bridge is None and window.signin.error.text():
            stop(f"the desk could not sign in: {window.signin.error.text()}")

    watchdog = QTimer()
    watchdog.timeout.connect(watch)
    watchdog.start(500)
    signal.signal(signal.SIGINT, lambda *_: stop("stopped with Ctrl+C"))
    if auto:
        nurse.finished.connect(lambda: stop())
        QTimer.singleShot(int(timeout * 1000), lambda: stop(
            f"the night did not finish within {timeout:.0f} s (see {data / 'demo.log'})"))
    if not headless:
        event("the desk is open, signed in as the demo nurse"
              + (": watch the demo nurse work" if auto else
                 ": answer the calls as they ring, triage and sign off (close it to stop)"))
    callers.start()
    try:
        app.exec()
    finally:
        watchdog.stop()
        nurse.close()
        window.shutdown()
        parts.http.close()
        callers.stop()
    summary(nurse, callers.calls, data, time.monotonic() - started, auto)
    if night.problem is not None and night.problem != "stopped with Ctrl+C":
        say(f"telehub-demo: {night.problem}", stream=sys.stderr)
        return 1
    return 0


def summary(nurse: DemoNurse, calls: list[PlacedCall], data: Path, elapsed: float,
            auto: bool) -> None:
    placed = [c for c in calls if c.call_id is not None]
    kinds: dict[str, int] = {}
    for c in placed:
        label = {"care_home": "care home", "prison": "prison", "home": "home"}[c.scenario.site]
        kinds[label] = kinds.get(label, 0) + 1
    waits = sorted(c.waited_s for c in nurse.calls.values())
    wait = (f"median {statistics.median(waits):.1f} s, longest {waits[-1]:.1f} s"
            if waits else "no call answered")
    shots = nurse.saved
    shot_line = (f"{shots[0].parent} ({', '.join(p.name for p in shots)})" if shots
                 else "none (the demo takes them in --auto and headless runs)")
    say("")
    say(f"telehub demo: summary after {elapsed:.0f} s")
    say(f"  calls placed:        {len(placed)}"
        + (f" ({', '.join(f'{k} {n}' for k, n in kinds.items())})" if kinds else ""))
    say(f"  calls answered:      {nurse.answered}")
    say(f"  time to answer:      {wait}")
    say(f"  records signed off:  {nurse.signed}")
    say(f"  records synced:      {nurse.synced} (in the hub's central store)")
    say(f"  screenshots:         {shot_line}")
    say(f"  hub database:        {data / 'hub.db'} (log: {data / 'hub.log'})")
    say(f"  the demo's own log:  {data / 'demo.log'}")
    if auto:
        say("  next: run `telehub-demo` on a desktop to answer the calls yourself; README.md "
            "says how to run the hub for real")
