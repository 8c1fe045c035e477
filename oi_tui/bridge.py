"""The one seam between the core's bus and the TUI: bus events in, Textual messages out.

The bridge runs as an async worker on the app's loop. It never touches a widget: it drains the
subscription, merges runs of text chunks so a burst of tokens becomes one update, and posts a
single `CoreEventsArrived` message per burst to its target. `@on` handlers own all UI state.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from oi_core.bus import EventBus
from oi_core.events import ChunkEmitted, Event

#: Events taken from the queue at most per posted message (keeps each handler run short).
MAX_BATCH = 512


class CoreEventsArrived(Message):
    """One or more core events arrived on the bus, in order."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


def _mergeable(chunk: dict[str, Any]) -> bool:
    return (
        isinstance(chunk.get("content"), str)
        and "start" not in chunk
        and "end" not in chunk
        and chunk.get("type") in ("message", "code", "console")
        and chunk.get("format") != "active_line"
    )


def merge_chunks(events: list[Event]) -> list[Event]:
    """Join adjacent text chunks of the same kind; keep only the last of adjacent active_line chunks."""
    merged: list[Event] = []
    for event in events:
        previous = merged[-1] if merged else None
        if isinstance(event, ChunkEmitted) and isinstance(previous, ChunkEmitted):
            new, old = event.chunk, previous.chunk
            same_kind = all(new.get(k) == old.get(k) for k in ("role", "type", "format"))
            if same_kind and _mergeable(new) and _mergeable(old):
                merged[-1] = ChunkEmitted({**old, "content": old["content"] + new["content"]})
                continue
            if same_kind and new.get("format") == "active_line" and old.get("format") == "active_line":
                merged[-1] = event
                continue
        merged.append(event)
    return merged


class BusBridge:
    """Iterates a bus subscription and posts `CoreEventsArrived` to `target`."""

    def __init__(self, bus: EventBus, target: MessagePump) -> None:
        self.bus = bus
        self.target = target
        self.subscription = bus.subscribe()

    async def run(self) -> None:
        """Forward events until cancelled (run it with `run_worker`)."""
        try:
            while True:
                first = await self.subscription.get()
                batch = [first]
                while len(batch) < MAX_BATCH:
                    event = self.subscription.get_nowait()
                    if event is None:
                        break
                    batch.append(event)
                self.target.post_message(CoreEventsArrived(merge_chunks(batch)))
        finally:
            self.subscription.close()
