"""An in-process async publish/subscribe bus: the only seam between the core and its clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .events import Event

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
    """Publishing never blocks: handlers are called inline (sync) or scheduled (async)."""

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
                result = handler(event)
                if asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
