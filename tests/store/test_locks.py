"""One writer per (run, task, shard): refusal naming the holder, waiting, and a SIGKILLed holder
that never blocks the next run (the kernel drops an flock with its process)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from evalkit.errors import StoreError
from evalkit.store.locks import WriterLock, read_holder


def test_second_writer_refused_naming_the_holder(tmp_path):
    lock = tmp_path / ".writer.lock"
    first = WriterLock(lock, "out/r/task").acquire()
    try:
        holder = read_holder(lock)
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(StoreError) as e:
            WriterLock(lock, "out/r/task").acquire()
        msg = str(e.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}, started {holder['started']}" in msg
        assert "out/r/task" in msg and "run.wait_for_lock=true" in msg
    finally:
        first.release()
    assert read_holder(lock) is None  # a clean release removes the description
    WriterLock(lock, "out/r/task").acquire().release()


def test_waiting_writer_takes_over_when_the_holder_is_done(tmp_path):
    lock = tmp_path / ".writer.lock"
    first = WriterLock(lock, "out/r/task").acquire()
    said: list[str] = []
    got = threading.Event()

    def second() -> None:
        with WriterLock(lock, "out/r/task").hold(wait=True, log=said.append):
            got.set()

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert not got.is_set() and said and "waiting" in said[0] and f"pid {os.getpid()}" in said[0]
    first.release()
    t.join(timeout=10)
    assert got.is_set()


def test_sigkilled_holder_never_blocks_a_rerun(tmp_path):
    lock = tmp_path / ".writer.lock"
    code = ("import sys, time; from evalkit.store.locks import WriterLock; "
            f"w = WriterLock({str(lock)!r}, 'x').acquire(); print('held', flush=True); time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"pid {child.pid} on host"):
            WriterLock(lock, "x").acquire()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert read_holder(lock)["pid"] == child.pid  # the dead holder's description is still there...
    t0 = time.monotonic()
    mine = WriterLock(lock, "x").acquire()  # ...but the lock is free at once (no wait, no timeout)
    assert time.monotonic() - t0 < 1.0 and read_holder(lock)["pid"] == os.getpid()
    mine.release()
