"""The one seam between the core's bus and the TUI: bus events in, Textual messages out.

The bridge runs as an async worker on the app's loop. It never touches a widget: it drains the
subscription, merges runs of text chunks so a burst of tokens becomes one update, and posts a
single `CoreEventsArrived` message per burst to its target. `@on` handlers own all UI state.

It posts the next burst only once the target has handled the last one (`CoreEventsArrived.handled`).
Meanwhile it keeps draining and merging, so when the UI falls behind a fast producer what waits is a
few merged chunks (the text itself, and only the newest active line), never a growing queue of events.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from oi_core.bus import EventBus
from oi_core.events import ChunkEmitted, Event

#: Events handed over at most per posted message (keeps each handler run short).
MAX_BATCH = 512


class CoreEventsArrived(Message):
    """One or more core events arrived on the bus, in order."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events
        self.handled = asyncio.Event()
        """Set by the handler when it is done (the bridge then posts the next burst)."""


def _mergeable(chunk: dict[str, Any]) -> bool:
    return (
        isinstance(chunk.get("content"), str)
        and "start" not in chunk
        and "end" not in chunk
        and chunk.get("type") in ("message", "code", "console")
        and chunk.get("format") != "active_line"
    )


class _TextRun:
    """Adjacent text chunks of one kind, joined once when handed over (joining each as it came was quadratic:
    a reply that arrived all at once spent ~60 ms per 130 KB re-copying its text)."""

    def __init__(self, chunk: dict[str, Any]) -> None:
        self.chunk = chunk
        self.pieces: list[str] = [chunk["content"]]

    def takes(self, chunk: dict[str, Any]) -> bool:
        old = self.chunk
        return all(chunk.get(k) == old.get(k) for k in ("role", "type", "format")) and _mergeable(chunk)

    def event(self) -> ChunkEmitted:
        if len(self.pieces) == 1:
            return ChunkEmitted(self.chunk)
        return ChunkEmitted({**self.chunk, "content": "".join(self.pieces)})


def merge_into(merged: list[Event | _TextRun], event: Event) -> None:
    """Append `event`, joining it to the previous one when both are text of the same kind."""
    previous = merged[-1] if merged else None
    if isinstance(event, ChunkEmitted):
        new = event.chunk
        if isinstance(previous, _TextRun) and previous.takes(new):
            previous.pieces.append(new["content"])
            return
        if _mergeable(new):
            merged.append(_TextRun(new))
            return
        if (isinstance(previous, ChunkEmitted) and new.get("format") == "active_line"
                and previous.chunk.get("format") == "active_line"
                and all(new.get(k) == previous.chunk.get(k) for k in ("role", "type"))):
            merged[-1] = event
            return
    merged.append(event)


def as_events(merged: list[Event | _TextRun]) -> list[Event]:
    """The merged list as events (each run of text joined into one chunk)."""
    return [item.event() if isinstance(item, _TextRun) else item for item in merged]


def merge_chunks(events: list[Event]) -> list[Event]:
    """Join adjacent text chunks of the same kind; keep only the last of adjacent active_line chunks."""
    merged: list[Event | _TextRun] = []
    for event in events:
        merge_into(merged, event)
    return as_events(merged)


class BusBridge:
    """Iterates a bus subscription and posts `CoreEventsArrived` to `target`, one burst at a time."""

    def __init__(self, bus: EventBus, target: MessagePump) -> None:
        self.bus = bus
        self.target = target
        self.subscription = bus.subscribe()

    def _drain(self, pending: list[Event | _TextRun]) -> None:
        while True:
            event = self.subscription.get_nowait()
            if event is None:
                return
            merge_into(pending, event)

    async def run(self) -> None:
        """Forward events until cancelled (run it with `run_worker`)."""
        pending: list[Event | _TextRun] = []
        try:
            while True:
                if not pending:
                    merge_into(pending, await self.subscription.get())
                self._drain(pending)
                burst, pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
                message = CoreEventsArrived(as_events(burst))
                self.target.post_message(message)
                await self._wait_until_handled(message, pending)
        finally:
            self.subscription.close()

    async def _wait_until_handled(self, message: CoreEventsArrived, pending: list[Event | _TextRun]) -> None:
        """Wait for the target to finish the burst, merging what arrives meanwhile into `pending`."""
        handled = asyncio.ensure_future(message.handled.wait())
        try:
            while not handled.done():
                arrival = asyncio.ensure_future(self.subscription.get())
                done, _ = await asyncio.wait({handled, arrival}, return_when=asyncio.FIRST_COMPLETED)
                if arrival in done:
                    merge_into(pending, arrival.result())
                    self._drain(pending)
                else:
                    arrival.cancel()
                    try:
                        event = await arrival
                    except asyncio.CancelledError:
                        continue
                    merge_into(pending, event)  # it arrived as it was cancelled: keep it
        finally:
            handled.cancel()
