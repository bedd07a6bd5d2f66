"""The AT-SPI harness: tests read a Qt program the way Orca does, through the accessibility
bus, and press real keys on a real X server.

One :class:`A11yBus` a test session (the ``a11y_bus`` fixture): Xvfb, a private D-Bus
session bus (whose activation starts at-spi-bus-launcher, the accessibility bus and the
registry from at-spi2-core), and the reader agent (tests/helpers/atspi_reader.py, libatspi
under Debian's /usr/bin/python3). :meth:`A11yBus.launch` starts a program module (built on
tests/helpers/atspi_program.py) with Qt's xcb platform and its AT-SPI bridge always on, and
gives a :class:`Screen`:

    with a11y_bus.launch("tests.ui.a11y.desk_screens", "signin", hub.http) as screen:
        tree = screen.tree()                        # Node: name, role, states, description
        tree.find(role="push button", name="Sign in")
        screen.press("Tab"); screen.focused()      # real keys (XTest, via xdotool)
        screen.tab_order()                          # every stop until focus comes back
        mark = screen.mark(); screen.do("emergency_call")
        screen.wait_announcement("Emergency", since=mark)   # object:announcement events

Every wait is bounded and waits for its condition (an event, an answer), never a fixed
sleep. The Qt program and the reader are separate processes: a synchronous AT-SPI call into
a program from its own event loop can deadlock."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.helpers.waiting import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]
READER = Path(__file__).with_name("atspi_reader.py")
# The reader needs PyGObject and libatspi's typelib: Debian's python3-gi and
# gir1.2-atspi-2.0 (.ci/run installs them), for Debian's own interpreter.
SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCHER = "/usr/libexec/at-spi-bus-launcher"


def missing() -> str | None:
    """What this machine lacks for the harness, or None."""
    for tool, package in (("Xvfb", "xvfb"), ("dbus-daemon", "dbus-daemon"),
                          ("xdotool", "xdotool")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    if not Path(LAUNCHER).exists():
        return "at-spi-bus-launcher is not installed (apt-get install at-spi2-core)"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Atspi', "
                            "'2.0'); from gi.repository import Atspi"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return ("the AT-SPI reader needs python3-gi and gir1.2-atspi-2.0 "
                f"(apt-get install python3-gi gir1.2-atspi-2.0): {probe.stderr[-200:]}")
    return None


@dataclass(frozen=True)
class Node:
    """One accessible object as the reader saw it."""

    name: str
    role: str
    description: str = ""
    states: frozenset[str] = frozenset()
    text: str | None = None
    value: float | None = None
    actions: tuple[str, ...] = ()
    relations: dict[str, list[str]] = field(default_factory=dict, compare=False)
    index: int = -1
    path: str = ""
    parent_name: str = ""
    parent_role: str = ""
    child_count: int = 0
    children: tuple[Node, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Node:
        parent = raw.get("parent") or {}
        return cls(name=raw["name"], role=raw["role"], description=raw["description"],
                   states=frozenset(raw["states"]), text=raw.get("text"),
                   value=raw.get("value"), actions=tuple(raw.get("actions", ())),
                   relations=raw.get("relations", {}), index=raw.get("index", -1),
                   path=raw.get("path", ""), parent_name=parent.get("name", ""),
                   parent_role=parent.get("role", ""),
                   child_count=raw.get("child_count", 0),
                   children=tuple(cls.of(c) for c in raw.get("children", ())))

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, role: str | None = None, name: str | None = None,
                 where: Callable[[Node], bool] | None = None,
                 showing: bool = True) -> list[Node]:
        """Objects with this role and name (and condition); by default only those showing,
        as a screen reader skips hidden pages of a stack."""
        return [n for n in self.walk()
                if (role is None or n.role == role) and (name is None or n.name == name)
                and (where is None or where(n)) and (not showing or "showing" in n.states)]

    def find(self, role: str | None = None, name: str | None = None,
             where: Callable[[Node], bool] | None = None, showing: bool = True) -> Node:
        found = self.find_all(role, name, where, showing)
        if len(found) != 1:
            raise AssertionError(f"expected one {role or 'object'} named {name!r}, found "
                                 f"{len(found)}: {[(n.role, n.name) for n in found][:10]}")
        return found[0]

    @property
    def focusable(self) -> bool:
        return "focusable" in self.states

    @property
    def spoken(self) -> str:
        """What a screen reader says for it: name, role, description."""
        return ", ".join(x for x in (self.name, self.role, self.description) if x)


@dataclass(frozen=True)
class Announcement:
    text: str
    politeness: str  # "polite" or "assertive"
    source: str


class _Pipe:
    """A child process spoken to in JSON lines; answers matched to requests by id."""

    def __init__(self, proc: subprocess.Popen[str], what: str, log: Path) -> None:
        self.proc, self.what, self.log = proc, what, log
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.next_id = 0
        self.reported = False  # a failure has said that the child ended
        assert proc.stdout is not None
        self.reading = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.reading.start()

    def _read(self, out: IO[str]) -> None:
        with out:  # closed where it is read, once the child ends: none left to the collector
            for line in out:
                if line.startswith("{"):
                    try:
                        self.lines.put(json.loads(line))
                    except ValueError:
                        continue
        self.lines.put(None)

    def tail(self) -> str:
        """The end of the child's stderr; from its fatal error on, when it crashed (every
        thread's stack, from -X faulthandler), else the last lines."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        crash = text.rfind("Fatal Python error")
        return text[crash:crash + 12000] if crash >= 0 else text[-3000:]

    def wait_for(self, test: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise WaitTimeout(f"{self.what} did not answer in {timeout:g} s; its log:\n"
                                  + self.tail()) from None
            if message is None:
                raise self.ended("ended")
            if test(message):
                return message

    def ended(self, how: str) -> AssertionError:
        """The failure to raise when the child is gone: how it ended (its exit code, or the
        signal that killed it) and the end of its stderr, so the report says why."""
        try:
            code: int | None = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            status = "still running"
        elif code < 0:
            status = f"killed by {signal.Signals(-code).name}"
        else:
            status = f"exit code {code}"
        self.reported = True
        return AssertionError(f"{self.what} {how} ({status}); its stderr:\n" + self.tail())

    def call(self, op: str, timeout: float = 15.0, **args: Any) -> Any:
        self.next_id += 1
        ident = self.next_id
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"id": ident, "op": op, **args}) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:  # BrokenPipeError: the child has died
            raise self.ended(f"could not be sent {op!r} ({type(exc).__name__})") from exc
        answer = self.wait_for(lambda m: m.get("id") == ident, timeout)
        if "error" in answer:
            raise AssertionError(f"{self.what} failed {op}: {answer['error']}\n"
                                 + answer.get("trace", ""))
        return answer.get("result")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        # stdin is closed whether or not the child still runs: a pipe left open is closed
        # by the garbage collector later, in some other test, as an unraisable warning.
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # end of input: both agents end on it
            self.proc.stdin.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.reading.join(timeout)  # _read closes the child's stdout as it ends


class A11yBus:
    """Xvfb, a private session bus with at-spi2-core's accessibility bus, and the reader."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="telehub-a11y-"))
        self.procs: list[subprocess.Popen[Any]] = []
        self.env: dict[str, str] = {}
        self.reader: _Pipe | None = None

    def start(self) -> A11yBus:
        run = self.home / "run"
        run.mkdir(mode=0o700)
        read, write = os.pipe()
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                                 "1440x1000x24", "-nolisten", "tcp"], pass_fds=(write,),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(xvfb)
        os.close(write)
        with os.fdopen(read) as pipe:
            display = f":{pipe.readline().strip()}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DBUS_", "AT_SPI", "QT_QPA", "WAYLAND"))}
        env.update(DISPLAY=display, XDG_RUNTIME_DIR=str(run), HOME=str(self.home),
                   NO_AT_BRIDGE="0", GTK_A11Y="atspi")
        # The session bus, in a process group of its own: what it starts by activation
        # (at-spi-bus-launcher, the accessibility bus, the registry) ends with the group.
        read, write = os.pipe()
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                f"--address=unix:path={run / 'bus'}",
                                f"--print-address={write}"], pass_fds=(write,), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        self.procs.append(bus)
        os.close(write)
        with os.fdopen(read) as pipe:
            env["DBUS_SESSION_BUS_ADDRESS"] = pipe.readline().strip()
        self.env = env
        log = self.home / "reader.log"
        with log.open("w") as err:
            reader = subprocess.Popen([SYSTEM_PYTHON, str(READER)], env=env, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=err)
        self.reader = _Pipe(reader, "the AT-SPI reader", log)
        self.reader.wait_for(lambda m: bool(m.get("ready")), 30)
        return self

    def ask(self, op: str, timeout: float = 15.0, **args: Any) -> Any:
        assert self.reader is not None
        return self.reader.call(op, timeout=timeout, **args)

    def launch(self, module: str, *args: str, font_pt: float | None = None,
               env: dict[str, str] | None = None, timeout: float = 60.0) -> Screen:
        """Starts ``python -m module args`` on this bus; returns when its window is up,
        active and on the accessibility bus."""
        log = self.home / f"{module.rsplit('.', 1)[-1]}-{len(self.procs)}.log"
        child_env = {**self.env, "QT_QPA_PLATFORM": "xcb", "QT_ACCESSIBILITY": "1",
                     "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
                     "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT)), **(env or {})}
        if font_pt is not None:
            child_env["TELEHUB_A11Y_FONT_PT"] = str(font_pt)
        with log.open("w") as err:
            # -X faulthandler: a crash (SIGSEGV, SIGABRT) writes every thread's Python
            # stack to the log, which a failure then shows.
            proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", module,
                                     *args], env=child_env,
                                    text=True, cwd=ROOT, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err)
        self.procs.append(proc)
        program = _Pipe(proc, f"the program {module}", log)
        try:
            ready = program.wait_for(lambda m: bool(m.get("ready")), timeout)
            screen = Screen(self, program, int(ready["pid"]))
            wait_until(lambda: self.ask("tree", pid=screen.pid), timeout=timeout,
                       message=f"{module} to appear on the accessibility bus")
        except BaseException:
            program.close(2)
            raise
        return screen

    def stop(self) -> None:
        if self.reader is not None:
            self.reader.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                if proc.args[0] == "dbus-daemon":
                    os.killpg(proc.pid, signal.SIGTERM)
                else:
                    proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        shutil.rmtree(self.home, ignore_errors=True)


class Screen:
    """One running program as a screen reader and a keyboard user meet it."""

    def __init__(self, bus: A11yBus, program: _Pipe, pid: int) -> None:
        self.bus, self.program, self.pid = bus, program, pid

    def __enter__(self) -> Screen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.program.close()

    # --- the program's own commands (setting the scene) ---------------------------------
    def do(self, op: str, timeout: float = 30.0, **args: Any) -> Any:
        return self.program.call(op, timeout=timeout, **args)

    def shot(self, path: Path) -> Path:
        self.do("shot", path=str(path))
        return path

    # --- the accessibility tree ---------------------------------------------------------
    def tree(self) -> Node:
        # A whole tree is one D-Bus round trip per property of every node, each answered by
        # the program's GUI thread: on a loaded 2-core machine, with video painting, a call
        # screen's walk has taken over 15 s.
        raw = self.bus.ask("tree", timeout=60.0, pid=self.pid)
        assert raw is not None, "the program is not on the accessibility bus"
        return Node.of(raw)

    def window(self) -> Node:
        """The program's active window (a sign-in dialog, the desk, a message box)."""
        app = self.tree()
        active = [w for w in app.children if "active" in w.states]
        return active[0] if active else app.children[0]

    # --- events -------------------------------------------------------------------------
    def mark(self) -> int:
        """Where the event record stands now: pass it as ``since`` to see only later ones."""
        return int(self.bus.ask("events", since=1 << 30)["next"])

    def events(self, since: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
        found = self.bus.ask("events", since=since)["events"]
        return [e for e in found if e["pid"] == self.pid
                and (kind is None or e["type"] == kind)]

    def announcements(self, since: int = 0) -> list[Announcement]:
        return [Announcement(e["text"], e["politeness"], e["source"]["name"])
                for e in self.events(since, "object:announcement")]

    def wait_announcement(self, contains: str, since: int = 0, politeness: str | None = None,
                          timeout: float = 10.0) -> Announcement:
        def heard() -> Announcement | None:
            for said in self.announcements(since):
                if contains in said.text and politeness in (None, said.politeness):
                    return said
            return None

        return wait_until(heard, timeout=timeout, interval=0.05, message=lambda: (
            f"an announcement containing {contains!r} ({politeness or 'any'}); heard "
            f"{self.announcements(since)}"))

    # --- the keyboard -------------------------------------------------------------------
    def focus_events(self, since: int = 0) -> list[Node]:
        return [Node.of(e["source"]) for e in self.events(since, "object:state-changed:focused")]

    def focused(self) -> Node | None:
        """The object holding focus as it is now (name, states): of the objects whose state
        says focused, the one the last focus event named, else the deepest."""
        found = [Node.of(raw) for raw in self.bus.ask("focused", pid=self.pid) or []]
        if not found:
            return None
        moves = self.focus_events()
        last = moves[-1].path if moves else None
        return next((n for n in found if n.path == last), found[-1])

    def activate(self) -> None:
        """Makes the program's window the active one, if it is not (key presses go to the
        active window), and waits for it: its focus event then comes before any mark."""
        if not self.do("is_active"):
            self.do("activate")
            wait_until(lambda: self.do("is_active"), timeout=10,
                       message="the program's window to become active")

    def keys(self, *keys: str) -> None:
        """Real key presses through XTest (xdotool's names: Tab, shift+Tab, Return, space,
        ctrl+Return, Down, Escape, a...), to the program's window (made active first)."""
        self.activate()
        subprocess.run(["xdotool", "key", "--clearmodifiers", "--delay", "10", *keys],
                       env=self.bus.env, check=True, timeout=60)

    def tab_walk(self, presses: int, backwards: bool = False,
                 timeout: float = 20.0) -> list[Node]:
        """Presses Tab (Shift+Tab) ``presses`` times in one go and returns the objects
        focused on the way, in order: as fast as the program takes keys, for long walks.
        Fewer than ``presses`` come back if focus stopped moving (a press inside a field
        that keeps Tab, say): the caller's check then fails with what was reached."""
        if presses <= 0:
            return []
        self.activate()
        mark = self.mark()
        self.keys(*(["shift+Tab" if backwards else "Tab"] * presses))
        with contextlib.suppress(WaitTimeout):  # what came is returned, for the message
            wait_until(lambda: len(_stops(self.focus_events(mark))) >= presses,
                       timeout=timeout, interval=0.05)
        self.do("qt_focus")
        return _stops(self.focus_events(mark))

    def press(self, key: str, timeout: float = 5.0) -> Node | None:
        """Presses one key and returns the object that then has focus, waiting for its
        focus event; None if focus did not move within ``timeout``."""
        self.activate()
        mark = self.mark()
        self.keys(key)
        try:
            wait_until(lambda: self.focus_events(mark), timeout=timeout, interval=0.02)
        except WaitTimeout:
            return None
        self.do("qt_focus")  # the program has handled the key: every event of it is sent
        return self.focus_events(mark)[-1]

    def tab_order(self, backwards: bool = False, limit: int = 80) -> list[Node]:
        """Presses Tab (Shift+Tab) until focus comes back to the object that had it when the
        walk began (or stops moving, or after ``limit`` presses) and returns every object
        focused on the way: a closed loop ends with the starting object."""
        key = "shift+Tab" if backwards else "Tab"
        start = self.focused()
        stops: list[Node] = []
        for _ in range(limit):
            node = self.press(key)
            if node is None:
                break
            stops.append(node)
            if start is not None and _same(node, start):
                break
        return stops


def _stops(moves: list[Node]) -> list[Node]:
    """Focus events as Tab stops: a table that takes focus names its current cell first,
    then itself, for one key press; the cell is no stop of its own. Nor is an object gone
    before the reader could ask what it was (no role: AT-SPI gives every live object one;
    seen for a history cell the model had just refreshed away): the live control that
    follows is the stop, and nameless live controls are caught by the tree walk."""
    live = [n for n in moves if n.role]
    if not live:
        return []  # none yet: a wait on the count goes on waiting (zip would raise here)
    return [n for n, after in zip(live, [*live[1:], None], strict=True)
            if not (after is not None and after.role == "table"
                    and n.parent_name == after.name and n.role == "table cell")]


def _same(a: Node, b: Node) -> bool:
    if a.path and b.path:
        return a.path == b.path
    return (a.role, a.name, a.index, a.parent_role, a.parent_name) == \
           (b.role, b.name, b.index, b.parent_role, b.parent_name)
