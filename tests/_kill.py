"""Kill a real ``evalkit`` process at a chosen point of its life, found by watching what it does on
disk (Linux inotify: a file renamed into place, a line appended, a file opened) or at a loopback
server, then SIGKILL at once.  No hook inside evalkit: the process under test is the real one.

A kill point is a list of steps that must happen in order, e.g.
``[Moved(task_dir, "manifest.json"), Opened(ckpt_dir, "model.safetensors")]``: "the model's weights
are being opened after the manifest was written", i.e. during model load.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

IN_MODIFY, IN_OPEN, IN_MOVED_TO, IN_CREATE = 0x2, 0x20, 0x80, 0x100
_EVENT = struct.Struct("iIII")


def inotify_available() -> bool:
    return sys.platform.startswith("linux") and ctypes.util.find_library("c") is not None


class Inotify:
    """Events (folder, file name, mask) of watched folders, read without polling the files."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._dirs: dict[int, Path] = {}

    def watch(self, folder: Path, mask: int = IN_MODIFY | IN_OPEN | IN_MOVED_TO | IN_CREATE) -> None:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(str(folder)), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
        self._dirs[wd] = Path(folder)

    def read(self, timeout: float) -> list[tuple[Path, str, int]]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        out, i = [], 0
        while i < len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, i)
            name = data[i + _EVENT.size: i + _EVENT.size + length].rstrip(b"\0").decode(errors="replace")
            i += _EVENT.size + length
            if wd in self._dirs:
                out.append((self._dirs[wd], name, mask))
        return out

    def close(self) -> None:
        os.close(self.fd)


# ---- steps -------------------------------------------------------------------------------------

@dataclass
class Moved:
    """A file renamed into place (every evalkit JSON/text file is written to a temporary and renamed)."""

    folder: Path
    name: str

    def hit(self, folder: Path, name: str, mask: int) -> bool:
        return bool(mask & IN_MOVED_TO) and folder == self.folder and name == self.name


@dataclass
class Opened:
    folder: Path
    name: Optional[str] = None  # None: any file of the folder

    def hit(self, folder: Path, name: str, mask: int) -> bool:
        return bool(mask & IN_OPEN) and folder == self.folder and (self.name is None or name == self.name)


@dataclass
class Lines:
    """An append left ``path`` holding at least ``n`` complete lines."""

    path: Path
    n: int

    def hit(self, folder: Path, name: str, mask: int) -> bool:
        if not (mask & (IN_MODIFY | IN_MOVED_TO)) or folder / name != self.path:
            return False
        try:
            return self.path.read_bytes().count(b"\n") >= self.n
        except OSError:
            return False


@dataclass
class Polled:
    """A condition checked every few milliseconds (e.g. a loopback server's request counter)."""

    check: Callable[[], bool]

    def hit(self, *_: object) -> bool:
        return False


@dataclass
class Attempt:
    """What happened to one run: killed at the last step (``killed``) or finished (``returncode``)."""

    returncode: int
    killed: bool
    seconds: float
    steps_hit: int
    output: str = ""
    at_kill: dict = field(default_factory=dict)


def run_and_kill(cmd: Sequence[str], *, env: dict, cwd: Path, watch: Sequence[Path], steps: Sequence[object],
                 snapshot: Callable[[], dict] = dict, timeout: float = 300.0) -> Attempt:
    """Start ``cmd``; SIGKILL it as soon as ``steps`` have happened in order (``snapshot()`` is taken
    right after the kill); with no steps, let it finish.  The process's output is returned."""
    ino = Inotify()
    for folder in watch:
        Path(folder).mkdir(parents=True, exist_ok=True)
        ino.watch(Path(folder))
    log = open(Path(cwd) / f".attempt-{time.monotonic_ns()}.log", "w+b")
    t0 = time.monotonic()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    done = 0
    at_kill: dict = {}
    try:
        while proc.poll() is None and done < len(steps):
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"no kill point after {timeout} s (step {done} of {len(steps)}): {cmd}")
            step = steps[done]
            if isinstance(step, Polled):
                ino.read(0.002)
                if step.check():
                    done += 1
                continue
            for folder, name, mask in ino.read(0.05):
                if done < len(steps) and not isinstance(steps[done], Polled) and steps[done].hit(folder, name, mask):
                    done += 1
        if done == len(steps) and steps and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            at_kill = snapshot()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ino.close()
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
        os.unlink(log.name)
    return Attempt(proc.returncode, proc.returncode == -signal.SIGKILL, time.monotonic() - t0, done, output, at_kill)
