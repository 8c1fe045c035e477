"""A private event loop in a daemon thread, so the sync API can drive the async core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: Items `iterate` produces ahead of a slow reader before the producer waits (a run's output arrives in
#: chunks of at most 64K characters, so this keeps a few MB at most, as the runners' own bound).
AHEAD = 64
#: How long `stop()` gives cancelled tasks to finish their cleanup before the loop stops anyway (seconds).
STOP_GRACE = 5.0


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
        """Run a coroutine on the private loop and wait; Ctrl-C cancels it. If the loop is stopped meanwhile
        (`stop()` from another thread), the wait ends with `concurrent.futures.CancelledError`."""
        loop = self.loop
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            while True:
                try:
                    return future.result(timeout=0.25)
                except concurrent.futures.TimeoutError:
                    if not loop.is_running():  # stopped with the task still pending: it will never finish
                        future.cancel()
                        raise concurrent.futures.CancelledError() from None
        except KeyboardInterrupt:
            future.cancel()
            raise

    def iterate(self, agen: AsyncGenerator[T, None], hold: Callable[[T], bool] | None = None) -> Iterator[T]:
        """Drive an async generator on the private loop, handing its items to this thread as they come.

        After an item for which `hold(item)` is true, the generator stays paused until the consumer asks
        for the next item: a consumer that breaks, closes or drops this iterator there (or simply stops
        reading) never lets it go on. Closing the iterator closes the async generator where it paused,
        on the loop, so its cleanup runs. Other items are produced ahead of the reader (streaming speed),
        at most `AHEAD` of them: then the generator waits for the reader, so a slow reader holds back the
        producer (and its runners' bounded buffers) instead of piling items up here.
        """
        loop = self.loop
        items: queue.Queue[Any] = queue.Queue()  # bounded by `put`; the end marker always fits
        resume = asyncio.Event()
        room = asyncio.Event()  # set (from the reader's thread) once the reader has taken half the queue
        waiting = [False]  # the producer waits for room: the reader must say when it takes an item
        started, stopped = threading.Event(), threading.Event()

        async def until_room() -> None:
            waiting[0] = True
            try:  # looked at again after the flag is up: an item taken just before is not missed
                while items.qsize() >= AHEAD:
                    room.clear()
                    if items.qsize() >= AHEAD:
                        await room.wait()
            finally:
                waiting[0] = False

        async def pump() -> None:
            started.set()
            try:
                while True:
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        return
                    if items.qsize() >= AHEAD:
                        await until_room()
                    items.put(item)
                    if hold is not None and hold(item):
                        await resume.wait()  # until the consumer asks for the next item
                        resume.clear()
            except asyncio.CancelledError:  # the reader left (nobody sees this) or the loop is stopping
                items.put(_Failure(concurrent.futures.CancelledError("the core's event loop was stopped")))
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
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    try:
                        item = items.get(timeout=0.25)
                    except queue.Empty:
                        if not loop.is_running():  # stopped before the producer could say so
                            finished = True
                            raise concurrent.futures.CancelledError("the core's event loop was stopped") from None
                        continue
                if waiting[0] and items.qsize() <= AHEAD // 2:  # wake the producer once per half queue
                    loop.call_soon_threadsafe(room.set)
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
        """Cancel every task still on the loop, give them `STOP_GRACE` seconds to clean up, then stop it.

        Returns at once; whoever waits in `run()` or reads `iterate()` in another thread gets
        `concurrent.futures.CancelledError` instead of waiting for ever on a loop that no longer runs.
        """
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return

        async def wind_down() -> None:
            tasks = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            try:
                if tasks:
                    await asyncio.wait(tasks, timeout=STOP_GRACE)
                await asyncio.wait_for(loop.shutdown_asyncgens(), STOP_GRACE)
            except BaseException:
                pass
            finally:
                loop.stop()

        try:
            loop.call_soon_threadsafe(lambda: loop.create_task(wind_down()))
        except RuntimeError:  # closed meanwhile
            pass


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


async def _quiet_close(agen: AsyncGenerator[Any, None]) -> None:
    try:
        await agen.aclose()
    except Exception:  # already reported by the generator itself (ErrorRaised); nobody is reading any more
        pass
