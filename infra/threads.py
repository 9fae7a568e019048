"""Thread priorities: ingest work yields the CPU to interactive queries in the same process.

Linux gives every thread its own nice value (`setpriority(PRIO_PROCESS, tid, ...)` changes that
thread alone), and threads inherit it from the thread that starts them, so a worker thread that
lowers itself before it runs also lowers the decode threads and the torch threads it starts.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


def thread_nice(native_id: int | None = None) -> int:
    """The nice value of a thread of this process (this thread by default)."""
    return os.getpriority(os.PRIO_PROCESS, native_id or threading.get_native_id())


def lower_this_thread(nice: int) -> None:
    """Run the calling thread at least at `nice` (0 leaves it as it is); Linux only, since
    elsewhere the call would lower the whole process."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        if thread_nice(tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:  # e.g. a sandbox without the permission: run at the same priority
        log.debug("could not lower thread %d to nice %d: %s", tid, nice, exc)


def lower_this_process(nice: int) -> None:
    """Run every thread of this process at least at `nice` (those started at import too), and
    the threads it starts later; Linux only, like lower_this_thread."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    for tid in sorted(int(t) for t in os.listdir("/proc/self/task")):
        try:
            if thread_nice(tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError as exc:  # gone meanwhile, or not permitted: leave it
            log.debug("could not lower thread %d to nice %d: %s", tid, nice, exc)
