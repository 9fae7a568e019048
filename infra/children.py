"""What standalone's child processes (the vector engine, the ingest worker) do first: take a
name `ps` and `top` show, and leave with the platform when it dies."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_NAME = 15  # prctl(2): the calling thread's name, the process's for its main thread
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def _prctl(option: int, value: int | bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value)


def name_this_process(name: str) -> None:
    """Show as `name` (at most 15 bytes) in ps/top; Linux only."""
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_NAME, name.encode()[:15])


def exit_with_parent(parent: int) -> None:
    """Leave at once when the parent is gone (killed, even): the platform is gone, and the
    tasks in hand are delivered again to the next worker. On Linux the kernel kills this
    process with its parent; elsewhere a thread notices within half a second."""
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
