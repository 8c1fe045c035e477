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
import codecs
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ...sanitize import strip_escapes as strip_ansi

MAX_CHUNK = 64 * 1024
MAX_PENDING = 4 * 1024 * 1024
FLUSH_INTERVAL = 0.03
#: The longest escape sequence held back while waiting for its end; longer ones are dropped as they are.
MAX_HELD_ESCAPE = 64 * 1024
#: Output passed on per window (1 MB/s, Jupyter's default IOPub data rate limit too): beyond it only the
#: count and the last OUTPUT_TAIL bytes are kept. The TUI shows about that much per second, and no one
#: reads faster; the model gets at most a few thousand characters of it anyway.
OUTPUT_BUDGET = 256 * 1024
OUTPUT_WINDOW = 0.25
OUTPUT_TAIL = 64 * 1024


def output(text: str) -> dict[str, Any]:
    return {"type": "console", "format": "output", "content": text}


def active_line(line: int | None) -> dict[str, Any]:
    return {"type": "console", "format": "active_line", "content": line}


def failed_outcome() -> dict[str, Any]:
    """The runner's verdict that the run failed, yielded once just before the final active line (never output)."""
    return {"type": "console", "format": "outcome", "content": "error"}


def first_code_line(code: str) -> int | None:
    """The line a run starts on: the first that is neither blank nor a `#` comment (1-based)."""
    for number, line in enumerate(code.splitlines(), 1):
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            return number
    return None


# An escape sequence cut off by the end of the text: CSI, OSC/DCS/SOS/PM/APC strings without their
# terminator (or with half of ST), a lone ESC, and the 8-bit forms.
_PARTIAL_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?|[ -/]*)"
    r"|\x9b[0-?]*[ -/]*"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*\x1b?"
)
_STRING_INTRO = re.compile(r"\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]")


def _last_escape_start(text: str, end: int) -> int:
    return max(text.rfind("\x1b", 0, end), *(text.rfind(c, 0, end) for c in "\x90\x98\x9b\x9d\x9e\x9f"))


def partial_escape_start(text: str) -> int:
    """Where an escape sequence that the end of `text` cuts off begins, or -1."""
    start = _last_escape_start(text, len(text))
    if start < 0:
        return -1
    if start == len(text) - 1 and text[start] == "\x1b":
        # A trailing ESC may be the first half of the ST that ends a string sequence begun earlier.
        earlier = _last_escape_start(text, start)
        if earlier >= 0 and _STRING_INTRO.match(text, earlier) and "\x07" not in text[earlier:start]:
            return earlier
    return start if _PARTIAL_ESCAPE.fullmatch(text, start) else -1


class OutputCleaner:
    """Turns a program's output, read in arbitrary pieces, into text without escape sequences.

    Bytes are decoded incrementally (a UTF-8 character split between two reads stays whole) and an
    escape sequence cut off at the end of a piece is held back until the next one completes it.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def feed(self, data: bytes | str, final: bool = False) -> str:
        text = self._decoder.decode(data, final) if isinstance(data, bytes) else data
        if self._held:
            text, self._held = self._held + text, ""
        if not final:
            cut = partial_escape_start(text)
            if cut >= 0 and len(text) - cut <= MAX_HELD_ESCAPE:
                text, self._held = text[:cut], text[cut:]
        return strip_ansi(text)

    def finish(self) -> str:
        """Whatever is still held (an escape never completed is dropped)."""
        return self.feed(b"", final=True)


class ThrottledCleaner:
    """An `OutputCleaner` that passes at most `budget` bytes per `window` seconds.

    What comes faster is not decoded or kept: it is counted and only its last `tail` bytes are held, then
    released with a note when the window ends, so a program writing gigabytes costs neither memory nor the
    time to show what nobody could read. (The Python kernel applies the same budget before it sends.)
    """

    def __init__(self, budget: int = OUTPUT_BUDGET, window: float = OUTPUT_WINDOW, tail: int = OUTPUT_TAIL) -> None:
        self.budget, self.window, self.tail_size = budget, window, tail
        self._cleaner = OutputCleaner()
        self._start = 0.0
        self._sent = 0
        self._diverted = 0
        self._tail = b""

    def feed(self, data: bytes) -> str:
        now = time.monotonic()
        out = self.poll(now)
        if self._diverted or self._sent + len(data) > self.budget:
            room = 0 if self._diverted else max(0, self.budget - self._sent)
            if room:
                out += self._cleaner.feed(data[:room])
                self._sent += room
            rest = len(data) - room
            self._diverted += rest
            self._tail = (self._tail + data[len(data) - min(rest, self.tail_size):])[-self.tail_size:]
            return out
        self._sent += len(data)
        return out + self._cleaner.feed(data)

    def poll(self, now: float | None = None) -> str:
        """Start a new window if the current one is over, releasing what was held back (or "")."""
        now = time.monotonic() if now is None else now
        if now - self._start < self.window:
            return ""
        self._start, self._sent = now, 0
        if not self._diverted:
            return ""
        tail, skipped = self._tail, self._diverted - len(self._tail)
        self._diverted, self._tail = 0, b""
        self._sent = len(tail)
        if not skipped:  # all of it fitted in the tail: nothing was lost
            return self._cleaner.feed(tail)
        cut = self._cleaner.finish()  # the cut ends any half-written character or escape
        self._cleaner = OutputCleaner()
        return f"{cut}\n[... {skipped:,} bytes of output skipped ...]\n{self._cleaner.feed(tail)}"

    def finish(self) -> str:
        out = self.poll(float("inf"))
        return out + self._cleaner.finish()


class Finished:
    """A one-shot flag set from any thread, awaitable from any event loop.

    Waiters are woken through their loop in the order the flag was set, so a coroutine waiting for a
    run to end resumes before the run's consumer sees the stream close (a thread-pool `Event.wait`
    could resume later, after the loop had been stopped).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                pass

    def wait(self, timeout: float | None = None) -> bool:
        """Block this thread until set (for code that runs in threads)."""
        return self._event.wait(timeout)

    async def until_set(self, timeout: float | None = None) -> bool:
        """Wait in the running loop until set; False if `timeout` passed first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._event.is_set():
                return True
            self._waiters.append((loop, future))
        try:
            await asyncio.wait((future,), timeout=timeout)
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
        return self._event.is_set()


class StopOnce:
    """One stop per run, shared by every caller; the run awaits it before it ends.

    So whoever asked for the stop is answered before the run's consumer learns the run is over (and,
    in the sync API, before it can stop the loop both are running on).
    """

    def __init__(self) -> None:
        self._task: asyncio.Future[None] | None = None

    async def stop(self, stopping: Callable[[], Awaitable[None]]) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(stopping())
        await asyncio.shield(self._task)

    async def settled(self) -> None:
        """Wait for a stop in progress (if any) to finish."""
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except Exception:
                pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
