"""A private event loop in a daemon thread, so the sync API can drive the async core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "oi-core") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._thread = thread
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the private loop and wait; Ctrl-C cancels it."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def iterate(self, agen: AsyncGenerator[T, None], hold: Callable[[T], bool] | None = None) -> Iterator[T]:
        """Drive an async generator on the private loop, handing its items to this thread as they come.

        After an item for which `hold(item)` is true, the generator stays paused until the consumer asks
        for the next item: a consumer that breaks, closes or drops this iterator there (or simply stops
        reading) never lets it go on. Closing the iterator closes the async generator where it paused,
        on the loop, so its cleanup runs. Other items are produced ahead of the reader (streaming speed).
        """
        loop = self.loop
        items: queue.Queue[Any] = queue.Queue()
        resume = asyncio.Event()
        started, stopped = threading.Event(), threading.Event()

        async def pump() -> None:
            started.set()
            try:
                while True:
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        return
                    items.put(item)
                    if hold is not None and hold(item):
                        await resume.wait()  # until the consumer asks for the next item
                        resume.clear()
            except asyncio.CancelledError:
                pass
            except BaseException as exc:  # handed to the consumer thread
                items.put(_Failure(exc))
            finally:
                await _quiet_close(agen)  # paused at a held item: closed right there
                items.put(_DONE)
                stopped.set()

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        finished = False
        try:
            while True:
                item = items.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, _Failure):
                    finished = True
                    raise item.exc
                yield item
                if hold is not None and hold(item):
                    loop.call_soon_threadsafe(resume.set)
        finally:
            if not finished and not stopped.is_set() and loop.is_running():
                future.cancel()  # cancels the pump on the loop; its finally closes the generator
                if started.is_set() and threading.current_thread() is not self._thread:
                    stopped.wait(timeout=30)  # never on the loop thread itself (garbage collected there)

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


async def _quiet_close(agen: AsyncGenerator[Any, None]) -> None:
    try:
        await agen.aclose()
    except Exception:  # already reported by the generator itself (ErrorRaised); nobody is reading any more
        pass
