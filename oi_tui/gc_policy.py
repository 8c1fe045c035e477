"""Garbage collection that never stalls typing: no full collections in the middle of a stream.

The app holds ~500,000 long-lived objects once textual, litellm and the kernel client are loaded. A
full (generation 2) collection walks all of them: 0.3–1.8 s on a busy 2-core machine, several times a
minute while a reply streams, each one a frozen screen. So:

- the objects alive after start-up (and again after litellm's import) are frozen: collections skip them;
- automatic full collections are off; the young generations still run, and they catch almost all
  garbage (streaming creates short-lived objects);
- a full collection of what is not frozen runs when the user is not typing (no key for `QUIET`
  seconds), at most every `EVERY` seconds, and what survives it is frozen, so each one only scans what
  was created since the last. Frozen objects that later become cyclic garbage are not reclaimed: the
  price of never pausing, small because textual's DOM uses weak references.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

#: Seconds without a key press before a full collection may run.
QUIET = 3.0
#: Seconds between full collections.
EVERY = 60.0
#: gen0 / gen1 thresholds as CPython's defaults; gen2 never triggers by itself.
THRESHOLDS = (700, 10, 1_000_000_000)


class GcPolicy:
    """Freezes start-up objects and runs full collections only in quiet moments."""

    def __init__(self, last_key_time: Callable[[], float]) -> None:
        self._last_key_time = last_key_time
        self._last_collect = time.monotonic()
        self.collections = 0
        self.last_pause = 0.0
        """Seconds the last full collection took (for benchmarks)."""

    def start(self) -> None:
        """Call after the first frame: freeze what start-up built, stop automatic full collections."""
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)

    def freeze_after(self, work: Callable[[], object]) -> threading.Thread:
        """Run `work` (e.g. waiting for litellm's import) in a thread, then freeze what it left alive."""

        def run() -> None:
            try:
                work()
            except Exception:  # the import failing is reported where litellm is used
                pass
            gc.freeze()

        thread = threading.Thread(target=run, name="oi-gc-freeze", daemon=True)
        thread.start()
        return thread

    def tick(self) -> bool:
        """Call every few seconds on the UI thread: collect (then freeze) if the user is not typing."""
        now = time.monotonic()
        last_key = self._last_key_time()  # time.monotonic() of the last key press, 0 if none yet
        key_age = now - last_key if last_key else float("inf")
        if now - self._last_collect < EVERY or key_age < QUIET:
            return False
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        self.last_pause = time.perf_counter() - started
        self._last_collect = now
        self.collections += 1
        return True


def wait_for_litellm(timeout: float = 60.0) -> None:
    """Return once litellm's import (started by the warm-up) is complete; at once if none starts in `timeout`."""
    import sys

    deadline = time.monotonic() + timeout
    while "litellm" not in sys.modules:
        if time.monotonic() > deadline:
            return
        time.sleep(0.25)
    from oi_core.llm import import_litellm

    import_litellm()  # waits for the import in progress (it holds the same lock), then returns the module


def restore_defaults() -> None:
    """Undo the policy (tests that run many apps in one process)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
