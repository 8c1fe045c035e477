"""Catch the UI thread stalling: every asyncio callback on the main thread is timed while a Pilot app runs.

A callback stalls the UI when it holds the loop. The rules, chosen so that a busy shared machine (2 cores,
other test runs) does not make them flaky while real regressions still fail:

- CPU, not load: what counts is the main thread's own CPU time in one callback (`time.thread_time`);
  time spent descheduled or waiting for the GIL is not counted. What remains of load (two threads on one
  physical core each run slower) is measured when a callback looks slow: a fixed reference loop that takes
  `REFERENCE_CPU` on this machine when it is quiet is timed again, and the limits are scaled by how much
  slower it runs now.
- Handlers: any other callback may use at most `CPU_LIMIT` (50 ms, the issue's bound) of scaled CPU: our
  message handlers, workers' results, and the Textual calls they name (a TextArea `load_text`, a query).
  That is where a regression (disk, PIL, JSON, a big parse) shows up. A long callback the watchdog could
  not sample is judged as a handler.
- Frames: Textual's screen refresh timer, or a callback most of whose samples are Textual building the
  screen (layout, compositing, CSS, compose and mount machinery: `FRAME_WORK`), may use up to
  `HARD_CPU_LIMIT` (1 s): one full-screen frame alone measured 50-370 ms of CPU here under load, and
  pushing a screen 30-50 ms; what it costs is Textual's. A reply that takes seconds to lay out still fails.
- Blocking: more than `BLOCK_LIMIT` (1 s) of wall time, under a quarter of it CPU, the thread having
  slept voluntarily inside (getrusage: a file, a socket, a subprocess, a lock, a sleep), outside a frame.
  Being preempted by other processes is involuntary and does not count. The limit is wall time, so it is
  deliberately generous (waiting for the GIL on a loaded machine also counts as a voluntary sleep): it
  catches a network call or a subprocess on the loop, not a slow disk on a busy CI runner.

Near misses (a handler over half its CPU limit) are not failures; with `OI_STALL_LOG=path` every one is
appended to that file, to see how close the suite runs to the limits on a given machine.

Not counted: the test's own coroutine (its setup may write files or take screenshots on purpose); time in
the garbage collector (the test process's heap is far bigger than an app's, and the app's own collections
are governed by oi_tui/gc_policy.py); a blocking wait in which the watchdog could not sample the main thread
even once (another thread held the GIL: that thread's work, not the loop's).
"""

from __future__ import annotations

import asyncio.events
import gc
import resource
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

CPU_LIMIT = 0.050
HARD_CPU_LIMIT = 1.0
BLOCK_LIMIT = 1.0
#: The reference loop's CPU time on this machine when quiet (min of 200 runs: 2.69 ms; median 2.74 ms).
REFERENCE_CPU = 0.0028
#: The watchdog samples where the main thread is every SAMPLE_EVERY once a callback has run SAMPLE_AFTER.
SAMPLE_AFTER = 0.020
SAMPLE_EVERY = 0.010
OUR_CODE = ("/oi_tui/", "/oi_core/")
#: A sample whose innermost frame of ours, Textual's or Rich's is in one of these is Textual building the
#: screen (refresh, layout, CSS, compose/mount machinery, rendering), not a handler's own work; Textual
#: work a handler asks for by name (a TextArea's load_text, a query) stays the handler's.
FRAME_WORK = ("_on_timer_update", "textual/_compositor.py", "textual/css/", "textual/_arrange.py",
              "textual/layouts/", "textual/_layout.py", "textual/_styles_cache.py", "textual/_compose.py",
              "textual/strip.py", "textual/dom.py", "textual/_resolve.py", "textual/screen.py", "rich/")
#: Textual building the screen, timed and taken out of a callback's CPU before the handler rule applies:
#: applying CSS (after a mount, a class change, a screen push), layout, and compositing a frame.
TEXTUAL_WORK = (
    ("textual.css.stylesheet", "Stylesheet", "apply"),
    ("textual.css.stylesheet", "Stylesheet", "update_nodes"),
    ("textual.css.stylesheet", "Stylesheet", "parse"),
    ("textual.css.stylesheet", "Stylesheet", "reparse"),
    ("textual.screen", "Screen", "_refresh_layout"),
    ("textual.screen", "Screen", "_compositor_refresh"),
    ("textual.screen", "Screen", "_on_timer_update"),
)
#: Textual's screen refresh timer (Screen.set_interval(..., name="screen_update")).
FRAME_TIMER = "screen_update"


def is_frame_sample(sample: list[str]) -> bool:
    """Whose time a stack sample is: the innermost frame that is ours or Textual's/Rich's decides."""
    for line in reversed(sample):
        if any(part in line for part in OUR_CODE):
            return False
        if any(marker in line for marker in FRAME_WORK):
            return True
        if "textual/" in line:
            return False
    return False


def is_frame(handle: asyncio.events.Handle, samples: list[list[str]]) -> bool:
    """A screen refresh, or a callback most of whose samples are Textual's own work."""
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    if isinstance(owner, asyncio.Task):
        frame = getattr(owner.get_coro(), "cr_frame", None)
        timer = frame.f_locals.get("self") if frame is not None else None
        if getattr(timer, "name", None) == FRAME_TIMER:
            return True
    return bool(samples) and 2 * sum(map(is_frame_sample, samples)) >= len(samples)


def reference_cpu() -> float:
    """CPU time of a fixed pure-Python loop now (the best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        total = 0
        for i in range(60_000):
            total += i * i
        best = min(best, time.thread_time() - started)
    return best


@dataclass
class Stall:
    cpu: float
    wall: float
    kind: str
    callback: str
    where: list[str] = field(default_factory=list)

    def describe(self) -> str:
        ours = [line for line in self.where if any(part in line for part in OUR_CODE)]
        where = "\n      ".join((ours or self.where)[-8:]) or "(no sample)"
        return (f"{self.kind}: {self.cpu * 1000:.0f} ms CPU, {self.wall * 1000:.0f} ms wall in {self.callback}\n"
                f"      {where}")


def _describe_callback(handle: asyncio.events.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {getattr(coro, '__qualname__', coro)!s}"
    return getattr(callback, "__qualname__", repr(callback))


class StallGuard:
    """Times main-thread callbacks between `start()` and `stop()`; `stalls` lists the ones that break the rules."""

    def __init__(self, cpu_limit: float | None = None, hard_cpu_limit: float | None = None,
                 block_limit: float | None = None) -> None:
        self.cpu_limit = CPU_LIMIT if cpu_limit is None else cpu_limit
        self.hard_cpu_limit = HARD_CPU_LIMIT if hard_cpu_limit is None else hard_cpu_limit
        self.block_limit = BLOCK_LIMIT if block_limit is None else block_limit
        self.stalls: list[Stall] = []
        self.near: list[Stall] = []
        """Callbacks over half the CPU limit that broke no rule (see OI_STALL_LOG)."""
        self.active = False
        self.exempt_task: asyncio.Task | None = None
        """The test's own task: its steps are not checked."""
        self._main = threading.get_ident()
        self._current_start = 0.0
        self._samples: list[list[str]] = []
        self._watchdog: threading.Thread | None = None
        self._original = asyncio.events.Handle._run
        self._gc_cpu = 0.0  # CPU spent collecting garbage on the main thread so far
        self._gc_started = 0.0
        self._textual_cpu = 0.0  # CPU spent in Textual building the screen (TEXTUAL_WORK) so far
        self._textual_depth = 0
        self._patched: list[tuple[type, str, object]] = []

    def _patch_textual_work(self) -> None:
        """Time Textual's own screen building (TEXTUAL_WORK) so it is not counted against a handler."""
        import importlib

        guard = self
        for module_name, class_name, method_name in TEXTUAL_WORK:
            owner = getattr(importlib.import_module(module_name), class_name)
            original = owner.__dict__[method_name]

            def timed(*args, __original=original, **kwargs):
                if guard._textual_depth or threading.get_ident() != guard._main:
                    return __original(*args, **kwargs)
                guard._textual_depth += 1
                started = time.thread_time()
                try:
                    return __original(*args, **kwargs)
                finally:
                    guard._textual_cpu += time.thread_time() - started
                    guard._textual_depth -= 1

            setattr(owner, method_name, timed)
            self._patched.append((owner, method_name, original))

    def _gc_callback(self, phase: str, info: dict) -> None:
        if threading.get_ident() != self._main:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._gc_started:
            self._gc_cpu += time.thread_time() - self._gc_started
            self._gc_started = 0.0

    def start(self, exempt_task: asyncio.Task | None = None) -> None:
        guard = self
        original = self._original
        main = self._main
        self.exempt_task = exempt_task

        def timed_run(handle: asyncio.events.Handle) -> None:
            if not guard.active or threading.get_ident() != main:
                return original(handle)
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if owner is not None and owner is guard.exempt_task:
                return original(handle)
            wall0, cpu0, gc0, textual0 = time.perf_counter(), time.thread_time(), guard._gc_cpu, guard._textual_cpu
            switches0 = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
            guard._samples = []
            guard._current_start = wall0
            try:
                return original(handle)
            finally:
                guard._current_start = 0.0
                gc_cpu = guard._gc_cpu - gc0
                wall, cpu = time.perf_counter() - wall0 - gc_cpu, time.thread_time() - cpu0 - gc_cpu
                own = cpu - (guard._textual_cpu - textual0)  # what is left once Textual's screen building is out
                if own > guard.cpu_limit or cpu > guard.hard_cpu_limit or wall > guard.block_limit:
                    slept = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw > switches0
                    guard._judge(handle, cpu, own, wall, slept)
                elif cpu > guard.cpu_limit / 2:
                    guard.near.append(Stall(cpu, wall, f"near (own {own * 1000:.0f} ms)", _describe_callback(handle),
                                            list(guard._samples[-1:] and guard._samples[-1])))

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        gc.callbacks.append(self._gc_callback)
        self._patch_textual_work()
        self.active = True
        self._watchdog = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)
        self._watchdog.start()

    def _judge(self, handle: asyncio.events.Handle, cpu: float, own: float, wall: float, slept: bool) -> None:
        samples = list(self._samples)
        frame_work = is_frame(handle, samples)
        over = own > self.cpu_limit or cpu > self.hard_cpu_limit
        slowdown = max(1.0, reference_cpu() / REFERENCE_CPU) if over else 1.0
        where = next((sample for sample in samples if any(any(p in line for p in OUR_CODE) for line in sample)),
                     samples[-1] if samples else [])
        kind = ""
        if cpu > self.hard_cpu_limit * slowdown:
            kind = "CPU"
        elif own > self.cpu_limit * slowdown and not frame_work:
            kind = "CPU in a handler"
        elif wall > self.block_limit and cpu < wall / 4 and slept and samples and not frame_work:
            kind = "blocked"
        if kind:
            self.stalls.append(Stall(cpu, wall, f"{kind} ({own * 1000:.0f} ms outside Textual's screen building; "
                                                f"machine {slowdown:.1f}x slower than quiet)",
                                     _describe_callback(handle), where))

    def stop(self) -> None:
        self.active = False
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        for owner, method_name, original in reversed(self._patched):
            setattr(owner, method_name, original)
        self._patched = []
        if self._gc_callback in gc.callbacks:
            gc.callbacks.remove(self._gc_callback)

    def pause(self) -> "_Paused":
        """`with guard.pause():` for a step the test itself makes heavy on purpose."""
        return _Paused(self)

    def _watch(self) -> None:
        """Sample the main thread's stack during long callbacks, to tell whose code the time went to."""
        while self.active:
            time.sleep(SAMPLE_EVERY)
            started = self._current_start
            if started and time.perf_counter() - started > SAMPLE_AFTER and len(self._samples) < 30:
                frame = sys._current_frames().get(self._main)
                if frame is not None:
                    self._samples.append([f"{f.filename.split('site-packages/')[-1]}:{f.lineno} {f.name}"
                                          for f in traceback.extract_stack(frame)][-16:])

    def report(self) -> str:
        return "\n".join(f"  {stall.describe()}" for stall in self.stalls)

    def log_to(self, path: str, test: str) -> None:
        """Append this test's stalls and near misses to `path` (one line each)."""
        with open(path, "a", encoding="utf-8") as log:
            for stall in self.stalls + self.near:
                ours = [line for line in stall.where if any(part in line for part in OUR_CODE)]
                where = (ours or stall.where or ["(no sample)"])[-1]
                log.write(f"{stall.cpu * 1000:6.0f} ms CPU {stall.wall * 1000:6.0f} ms wall  {stall.kind}  "
                          f"{test}  {stall.callback}  at {where}\n")


class _Paused:
    def __init__(self, guard: StallGuard) -> None:
        self.guard = guard

    def __enter__(self) -> None:
        self.was = self.guard.active
        self.guard.active = False

    def __exit__(self, *exc: object) -> None:
        self.guard.active = self.was
