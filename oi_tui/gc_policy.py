"""Garbage collection that stays out of the way of typing and streaming, with memory still bounded.

The app holds ~500,000 long-lived objects once textual, litellm and the kernel client are loaded. A full
(generation 2) collection walks all of them: 0.3–1.8 s on a busy 2-core machine, several times a minute
while a reply streams, each one a frozen screen. So:

- the objects alive after start-up, and again after litellm's import, are frozen: no collection walks
  them again (they live as long as the app). Nothing frozen later: widgets that are removed (folded
  history, sealed replies) must stay collectable.
- full collections then walk only the session's own objects (bounded: the transcript keeps ~60 items),
  and run a fifth as often as Python's default (`THRESHOLDS`);
- no full collection starts while the user types (`hold_while_typing`): one was due about every 15 s while a
  reply streamed, ~150 ms each, and a key pressed then echoed that much later. It waits for the pause in
  typing, then CPython's own thresholds and heuristics decide as before; typing on for `HOLD_LIMIT` s does not
  hold it longer (memory stays bounded);
- and one runs when the user is not typing (no key for `QUIET` s) and no turn runs, at most every
  `EVERY` s, so garbage from a quiet period does not wait for the threshold.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

#: Seconds without a key press before a quiet-time full collection may run.
QUIET = 5.0
#: Seconds between quiet-time full collections.
EVERY = 60.0
#: gen0 / gen1 as CPython's defaults; a full collection after 50 gen1 collections instead of 10.
THRESHOLDS = (700, 10, 50)
#: The same while the user types: gen0 and gen1 collections (a millisecond or so) go on, full ones wait.
HELD_THRESHOLDS = (700, 10, 1_000_000)
#: Seconds of typing after which full collections are no longer held back.
HOLD_LIMIT = 30.0


class GcPolicy:
    """Freezes start-up objects and runs full collections only in quiet moments."""

    def __init__(self, last_key_time: Callable[[], float], busy: Callable[[], bool] = lambda: False) -> None:
        self._last_key_time = last_key_time
        self._busy = busy
        self._last_collect = time.monotonic()
        self.collections = 0
        self._held_since: float | None = None
        self.last_pause = 0.0
        """Seconds the last full collection took (for benchmarks)."""

    def start(self) -> None:
        """Call after the first frame: freeze what start-up built; full collections five times rarer."""
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        gc.enable()  # paused since launch (`pause_until_first_frame`)

    @property
    def held(self) -> bool:
        """Full collections are held back for the user's typing."""
        return self._held_since is not None

    def hold_while_typing(self) -> None:
        """Call on each key press: no full collection starts until `release_after_typing` finds a pause."""
        if self._held_since is None:
            self._held_since = time.monotonic()
            gc.set_threshold(*HELD_THRESHOLDS)

    def release_after_typing(self, typing: bool) -> None:
        """Call when the typing pauses, and every few seconds while it goes on: once it has paused, or has gone
        on for HOLD_LIMIT s, full collections may run again."""
        if self._held_since is None or (typing and time.monotonic() - self._held_since < HOLD_LIMIT):
            return
        self._held_since = None
        gc.set_threshold(*THRESHOLDS)

    def freeze(self) -> None:
        """Start-up's later part is done (the kernel client, the reply widgets' modules): no collection walks it."""
        gc.freeze()

    def freeze_after(self, work: Callable[[], bool]) -> threading.Thread:
        """Run `work` (e.g. waiting for litellm's import) in a thread; if it returns True, freeze what is alive."""

        def run() -> None:
            try:
                done = work()
            except Exception:  # the import failing is reported where litellm is used
                done = False
            if done:
                gc.freeze()

        thread = threading.Thread(target=run, name="oi-gc-freeze", daemon=True)
        thread.start()
        return thread

    def tick(self) -> bool:
        """Call every few seconds on the UI thread: a full collection if the user is not typing."""
        now = time.monotonic()
        last_key = self._last_key_time()  # time.monotonic() of the last key press, 0 if none yet
        key_age = now - last_key if last_key else float("inf")
        if now - self._last_collect < EVERY or key_age < QUIET or self._busy():
            return False
        started = time.perf_counter()
        gc.collect()
        self.last_pause = time.perf_counter() - started
        self._last_collect = now
        self.collections += 1
        return True


def pause_until_first_frame() -> None:
    """Call at launch: no collection until `GcPolicy.start`, ~50 ms sooner to the first frame.

    Start-up allocates ~120,000 objects that live as long as the app; collections over them (about 180,
    one full) cost ~50 ms before the first frame and found ~13,000 objects of garbage (~2 MB), which the
    freeze at the first frame now keeps.
    """
    gc.disable()


def wait_for_litellm(timeout: float | None = None) -> bool:
    """True once litellm's import (started by the warm-up) is complete; False if none starts in `timeout` s
    (by default as long as the warm-up may hold it back for typing and early streams, and a minute more)."""
    import sys

    from oi_core.llm_lean import IMPORT_WAIT_LIMIT

    deadline = time.monotonic() + (IMPORT_WAIT_LIMIT + 60.0 if timeout is None else timeout)
    while "litellm" not in sys.modules:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    from oi_core.llm import import_litellm

    import_litellm()  # waits for the import in progress (it holds the same lock), then returns the module
    return True


def restore_defaults() -> None:
    """Undo the policy (tests that run many apps in one process)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    gc.enable()
