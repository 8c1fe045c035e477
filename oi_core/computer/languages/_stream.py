"""Hand a run's events from a worker thread to whichever asyncio loop is consuming the run.

Runners do their blocking I/O (zmq sockets, pipes) in threads they own, so they work the same under the
sync API's private loop and under the TUI's loop. A `RunStream` is created inside the consuming loop for
each run; the worker thread pushes text and chunks into it, and the consumer receives them in batches:
consecutive text is joined, batches are at most `MAX_CHUNK` characters and, while output keeps coming,
at most one batch every `FLUSH_INTERVAL` seconds. Text that the consumer has not taken yet is bounded
(`MAX_PENDING`): beyond that the oldest pending text is dropped and a note says how much.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

MAX_CHUNK = 64 * 1024
MAX_PENDING = 4 * 1024 * 1024
FLUSH_INTERVAL = 0.03

from ...sanitize import strip_escapes as strip_ansi  # noqa: F401  (the runners' name for it)


def output(text: str) -> dict[str, Any]:
    return {"type": "console", "format": "output", "content": text}


def active_line(line: int | None) -> dict[str, Any]:
    return {"type": "console", "format": "active_line", "content": line}


class Control:
    """A non-chunk event for the consumer (e.g. an input request); `kind` says which."""

    def __init__(self, kind: str, **data: Any) -> None:
        self.kind = kind
        self.data = data


class RunStream:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._lock = threading.Lock()
        self._items: deque[Any] = deque()  # str (output text), dict (chunk) or Control
        self._pending_text = 0
        self._dropped = 0
        self._scheduled = False
        self._closed = False
        self._last_flush = 0.0

    # ------------------------------------------------------------ producer side (any thread)

    def _notify(self) -> None:
        # caller holds the lock
        if not self._scheduled:
            self._scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # loop closed: nobody is listening any more
                pass

    def put_text(self, text: str) -> None:
        if not text:
            return
        if len(text) > MAX_PENDING:  # one enormous write: keep its beginning and its end
            half = MAX_PENDING // 2 - 128
            text = f"{text[:half]}\n[... {len(text) - 2 * half} characters of output skipped ...]\n{text[-half:]}"
        with self._lock:
            if self._closed:
                return
            self._items.append(text)
            self._pending_text += len(text)
            while self._pending_text > MAX_PENDING and self._items:
                # drop the oldest pending text so the newest output survives
                for index, item in enumerate(self._items):
                    if isinstance(item, str):
                        cut = min(len(item), self._pending_text - MAX_PENDING)
                        self._items[index] = item[cut:]
                        self._pending_text -= cut
                        self._dropped += cut
                        if not self._items[index]:
                            del self._items[index]
                        break
                else:
                    break
            self._notify()

    def put(self, item: dict[str, Any] | Control) -> None:
        with self._lock:
            if self._closed:
                return
            if isinstance(item, dict) and item.get("format") == "active_line" and self._items:
                last = self._items[-1]
                if isinstance(last, dict) and last.get("format") == "active_line":
                    self._items[-1] = item  # only the newest line matters
                    return
            self._items.append(item)
            self._notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._notify()

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------ consumer side (the loop)

    def _take(self) -> tuple[list[Any], bool]:
        with self._lock:
            self._scheduled = False
            self._wake.clear()
            out: list[Any] = []
            text: list[str] = []
            size = 0
            if self._dropped:
                out.append(output(f"\n[... {self._dropped} characters of output skipped while the display caught up ...]\n"))
                self._dropped = 0
            while self._items:
                item = self._items[0]
                if isinstance(item, str):
                    room = MAX_CHUNK - size
                    if room <= 0:
                        break
                    if len(item) > room:
                        text.append(item[:room])
                        self._items[0] = item[room:]
                        self._pending_text -= room
                        size += room
                        break
                    text.append(item)
                    size += len(item)
                    self._pending_text -= len(item)
                    self._items.popleft()
                    continue
                if text:
                    break
                out.append(self._items.popleft())
                if isinstance(item, Control):
                    break
            if text:
                out.append(output("".join(text)))
            more = bool(self._items)
            if more:
                self._scheduled = True
                self._wake.set()
            finished = self._closed and not self._items
            return out, finished

    async def events(self) -> AsyncIterator[dict[str, Any] | Control]:
        """Yield chunks and controls until the producer closes the stream and everything is taken."""
        while True:
            await self._wake.wait()
            wait = self._last_flush + FLUSH_INTERVAL - time.monotonic()
            if wait > 0 and not self._closed and self._only_small_text():
                await asyncio.sleep(wait)
            batch, finished = self._take()
            self._last_flush = time.monotonic()
            for item in batch:
                yield item
            if finished:
                return

    def _only_small_text(self) -> bool:
        with self._lock:
            return self._pending_text < MAX_CHUNK and all(
                isinstance(i, str) or (isinstance(i, dict) and i.get("format") == "active_line") for i in self._items
            )
