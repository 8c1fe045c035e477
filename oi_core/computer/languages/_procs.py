"""Find and end what a run started: the processes in a runtime's session and those descended from it.

A runtime (bash, a kernel, node) is started as the leader of its own session, so every process it
starts stays in that session unless it calls setsid(), and stays its descendant until its parent
exits. Stop signals the process group first; what ignores that (background jobs, `nohup`, children
in their own process group or session) is found here through Linux's /proc and ended. A daemon
that double-forks into a new session is out of reach, and so is everything on systems without /proc
(there only the process group is signalled).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

_PROC = "/proc"
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def detached_stdio() -> dict[str, Any]:
    """Popen arguments for a runtime that must never touch the app's terminal.

    stdin is /dev/null and the process leads a new session, so it has no controlling terminal: nothing it
    or its children do can write to, read from or signal the terminal the app draws on. (stdout and stderr
    are the caller's: a pipe it reads.)
    """
    return {"stdin": subprocess.DEVNULL, "start_new_session": True}


def supported() -> bool:
    return os.path.isdir(f"{_PROC}/self")


def now_ticks() -> int:
    """The current time in the units of /proc/<pid>/stat's start time (clock ticks since boot)."""
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return int(time.clock_gettime(clock) * _TICKS)


def _stat(pid: str) -> tuple[int, int, int] | None:
    """(parent pid, session id, start time) of a process, or None when it is gone or unreadable."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields[0] is the state; ppid, pgrp, session follow; starttime is field 22 of the whole line.
        return int(fields[1]), int(fields[3]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def reachable(root: int, started_since: int | None = None) -> list[int]:
    """Processes in `root`'s session or descended from `root` (not `root`), optionally only the newer ones."""
    if not supported():
        return []
    table: dict[int, tuple[int, int, int]] = {}
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            info = _stat(entry)
            if info is not None:
                table[int(entry)] = info
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _start) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_ppid, sid, _start) in table.items() if sid == root}
    visited = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in visited:
                visited.add(child)
                stack.append(child)
    found |= visited
    found.discard(root)
    found.discard(os.getpid())
    if started_since is not None:
        found = {pid for pid in found if table[pid][2] >= started_since}
    return sorted(found)


def end_processes(pids: list[int], grace: float = 0.3) -> None:
    """SIGTERM each (waking stopped ones), then SIGKILL whatever is still there after `grace` seconds."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)
            alive.append(pid)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [pid for pid in alive if _running(pid)]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _running(pid: str | int) -> bool:
    """True unless the process is gone or a zombie (a zombie is dead; only its parent can reap it)."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def end_reachable(root: int, started_since: int | None = None, grace: float = 0.3) -> None:
    """End what `reachable` finds (blocking: call it in a thread)."""
    end_processes(reachable(root, started_since), grace)
