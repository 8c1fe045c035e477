"""A private event loop in a daemon thread, so the sync API can drive the async core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncGenerator, Coroutine, Iterator
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

    def iterate(self, agen: AsyncGenerator[T, None]) -> Iterator[T]:
        """Drive an async generator on the private loop one item per request, in lock-step with the consumer.

        The producer never runs ahead: each item is produced only when the consumer asks for it, so a
        consumer that stops reading (breaks, closes, or drops the iterator) leaves the generator paused where
        it was, and closing this iterator closes the async generator there (its cleanup runs on the loop).
        """
        loop = self.loop
        finished = False
        try:
            while True:
                future = asyncio.run_coroutine_threadsafe(_next_item(agen), loop)
                try:
                    done, item = future.result()
                except KeyboardInterrupt:
                    future.cancel()
                    raise
                except concurrent.futures.CancelledError:
                    finished = True
                    return
                if done:
                    finished = True
                    return
                yield item
        finally:
            if not finished:
                self._close(agen, loop)

    def _close(self, agen: AsyncGenerator[Any, None], loop: asyncio.AbstractEventLoop) -> None:
        """Close an abandoned async generator on its loop; never blocks the loop thread itself."""
        if loop.is_closed() or not loop.is_running():
            return  # the interpreter was terminated: nothing can run the generator's cleanup any more
        if threading.current_thread() is self._thread:  # garbage collected on the loop thread
            loop.create_task(_quiet_close(agen))
            return
        future = asyncio.run_coroutine_threadsafe(_quiet_close(agen), loop)
        try:
            future.result(timeout=30)
        except BaseException:
            future.cancel()

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None


async def _next_item(agen: AsyncGenerator[T, None]) -> tuple[bool, T | None]:
    try:
        return False, await agen.__anext__()
    except StopAsyncIteration:
        return True, None


async def _quiet_close(agen: AsyncGenerator[Any, None]) -> None:
    try:
        await agen.aclose()
    except Exception:  # already reported by the generator itself (ErrorRaised); nobody is reading any more
        pass
