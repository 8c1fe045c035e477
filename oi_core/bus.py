"""An in-process async publish/subscribe bus: the only seam between the core and its clients."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import OiError
from .events import ErrorRaised, Event, UserMessageSent

log = logging.getLogger("oi_core.bus")

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None] | None]


class Subscription:
    """A queue of events for one consumer; iterate it with `async for`."""

    def __init__(self, bus: "EventBus", types: tuple[type[Event], ...]) -> None:
        self._bus = bus
        self._types = types
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def _offer(self, event: Event) -> None:
        if not self._types or isinstance(event, self._types):
            self._queue.put_nowait(event)

    async def get(self) -> Event:
        return await self._queue.get()

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus._subscriptions.discard(self)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()


class EventBus:
    """Publishing never blocks: handlers are called inline (sync) or scheduled (async).

    No handler failure is silent or reaches the publisher: it is logged with its traceback and published
    as an ErrorRaised sentence (an OiError as itself, anything else as an internal error).
    """

    def __init__(self) -> None:
        self._handlers: list[tuple[type[Event], Handler]] = []
        self._subscriptions: set[Subscription] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, event_type: type[E], handler: Callable[[E], Awaitable[None] | None]) -> Callable[[], None]:
        """Call `handler` for every event of `event_type`; returns a function that unsubscribes."""
        entry = (event_type, handler)
        self._handlers.append(entry)
        return lambda: self._handlers.remove(entry) if entry in self._handlers else None

    def subscribe(self, *types: type[Event]) -> Subscription:
        """A queue of the given event types (all events when none are given)."""
        sub = Subscription(self, types)
        self._subscriptions.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        for sub in list(self._subscriptions):
            sub._offer(event)
        for event_type, handler in list(self._handlers):
            if isinstance(event, event_type):
                try:
                    result = handler(event)
                except Exception as exc:
                    self._handler_failed(handler, event, exc)
                    continue
                if asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(functools.partial(self._task_done, handler, event))

    def _task_done(self, handler: Handler, event: Event, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._handler_failed(handler, event, task.exception())  # type: ignore[arg-type]

    def _handler_failed(self, handler: Handler, event: Event, exc: BaseException) -> None:
        name = getattr(handler, "__qualname__", repr(handler))
        log.error("bus handler %s failed on %s", name, type(event).__name__, exc_info=exc)
        if isinstance(event, ErrorRaised):
            return  # telling the user failed: the log has it, and trying again could loop
        if isinstance(exc, OiError):
            self.publish(ErrorRaised(exc.kind, exc.message))
            return
        from .secrets import redact

        self.publish(ErrorRaised("internal", redact(
            f"Something went wrong inside oi-tui while handling {_describe(event)} ({type(exc).__name__}: {exc})."
        )))


def _describe(event: Event) -> str:
    if isinstance(event, UserMessageSent):
        text = event.content.strip()
        return f"“{text[:60]}{'…' if len(text) > 60 else ''}”"
    return f"a {type(event).__name__} event"
