"""Provider streams are read and parsed on an event loop of their own, off the caller's loop.

litellm spends about a millisecond of CPU on every streamed chunk. When the server sends faster than
that, the chunks are already buffered, so a stream read on the TUI's loop never waits and never lets
the loop run: keys, frames and signals starve. `relay()` runs the provider stream on one long-lived
background loop ("oi-llm") and hands its items to the caller's loop in batches, giving that loop a
turn at least every `SLICE` seconds. One loop for every stream keeps litellm's cached HTTP clients on
the loop that made them.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from .loop_thread import LoopThread

T = TypeVar("T")

#: The caller's loop gets a turn at least this often while buffered items are handed over (seconds).
SLICE = 0.002

_thread = LoopThread("oi-llm")


def relay_loop() -> asyncio.AbstractEventLoop:
    """The background loop provider streams run on (started on first use)."""
    return _thread.loop


class _Handoff:
    """Items from the producer thread, and the caller-loop event that wakes the consumer."""

    def __init__(self, caller: asyncio.AbstractEventLoop) -> None:
        self.caller = caller
        self.items: collections.deque[Any] = collections.deque()
        self.wake = asyncio.Event()
        self.scheduled = False  # a wake-up is already on its way to the caller's loop
        self.done = False
        self.error: BaseException | None = None
        self.closed = False  # the reader left: the producer stops at its next item (buffered data never awaits)

    def signal(self) -> None:
        """Called on the producer's loop: wake the consumer once per batch, not once per item."""
        if not self.scheduled:
            self.scheduled = True
            try:
                self.caller.call_soon_threadsafe(self.wake.set)
            except RuntimeError:  # the caller's loop is gone: nobody is reading any more
                pass


async def relay(make_stream: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
    """Iterate `make_stream()` on the relay loop; yield its items here, in order, with its exception if any.

    Closing (or cancelling) this iterator cancels the producer, which closes the provider stream on
    its own loop; the caller does not wait for that.
    """
    handoff = _Handoff(asyncio.get_running_loop())

    async def pump() -> None:
        try:
            async with aclosing(make_stream()) as stream:  # type: ignore[type-var]
                async for item in stream:
                    if handoff.closed:
                        break
                    handoff.items.append(item)
                    handoff.signal()
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.error = exc
        finally:
            handoff.done = True
            handoff.signal()

    future = asyncio.run_coroutine_threadsafe(pump(), relay_loop())
    try:
        turn_started = time.perf_counter()
        while True:
            while handoff.items:
                yield handoff.items.popleft()
                if time.perf_counter() - turn_started > SLICE:
                    await asyncio.sleep(0)  # let keys, frames and timers run between batches
                    turn_started = time.perf_counter()
            if handoff.done and not handoff.items:
                if handoff.error is not None:
                    error, handoff.error = handoff.error, None
                    raise error
                return
            handoff.scheduled = False  # from here on, a new item schedules a new wake-up
            handoff.wake.clear()
            if handoff.items or handoff.done:
                continue
            await handoff.wake.wait()
            turn_started = time.perf_counter()
    finally:
        handoff.closed = True
        if not future.done():
            future.cancel()
