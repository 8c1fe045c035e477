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


def children(pid: int) -> dict[int, int]:
    """The direct children of a process (pid -> start time): cheap, for a snapshot at the start of a run."""
    found: dict[int, int] = {}
    try:
        tasks = os.listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"{_PROC}/{pid}/task/{task}/children", "rb") as f:
                listed = f.read().split()
        except OSError:
            continue
        for child in listed:
            info = _stat(child.decode())
            if info is not None:
                found[int(child)] = info[2]
    return found


def reachable(root: int, started_since: int | None = None, spare: dict[int, int] | None = None) -> dict[int, int]:
    """Processes in `root`'s session or descended from `root` (not `root`), optionally only the newer ones.

    `started_since` (clock ticks) keeps only processes started since then, and `spare` (a `children`
    snapshot) leaves out those processes: together they tell what a run started from what was already
    running. Returns pid -> start time, so that a pid reused later is never mistaken for one found here.
    """
    if not supported():
        return {}
    table: dict[int, tuple[int, int, int]] = {}
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return {}
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
    spare = spare or {}
    return {
        pid: table[pid][2]
        for pid in found
        if (started_since is None or table[pid][2] >= started_since) and spare.get(pid) != table[pid][2]
    }


def _same(pid: int, start: int) -> bool:
    info = _stat(str(pid))
    return info is not None and info[2] == start


def end_processes(processes: dict[int, int], grace: float = 0.3) -> None:
    """SIGTERM each (waking stopped ones), then SIGKILL whatever is still there after `grace` seconds."""
    alive = []
    for pid, start in processes.items():
        if not _same(pid, start):
            continue
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
        if _same(pid, processes[pid]):
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


def end_reachable(
    root: int,
    started_since: int | None = None,
    spare: dict[int, int] | None = None,
    found_before: dict[int, int] | None = None,
    grace: float = 0.3,
) -> None:
    """End what `reachable` finds now, plus `found_before` (taken while the root still had its children).

    Blocking: call it in a thread.
    """
    processes = dict(found_before or {})
    processes.update(reachable(root, started_since, spare))
    end_processes(processes, grace)
