"""A session's outgoing frames, numbered, kept until acknowledged so a client can catch up without loss or duplicates.

Without acknowledgements a frame is forgotten once written to the socket. With them (the reference's
INTERPRETER_REQUIRE_ACKNOWLEDGE, or a client asking for it), every frame carries an increasing `id`; the
client answers `{"ack": id}` (or `{"ack_through": id}` for all up to it) and unacknowledged frames are
sent again, in order, after a quiet period or when the client reconnects to the session.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .wire import dumps


@dataclass
class Frame:
    seq: int
    text: str
    sent_at: float = 0.0
    attempts: int = 0
    acked: bool = False


class Outbox:
    """Frames waiting to be sent (and, with acks, to be acknowledged), oldest first."""

    def __init__(self, numbered: bool, retain_bytes: int) -> None:
        self.numbered = numbered
        self.retain_bytes = retain_bytes
        self.frames: deque[Frame] = deque()
        self.next_seq = 1
        self.bytes = 0
        self.dropped_through = 0  # numbered frames up to here were dropped unacknowledged (a gap on resume)
        self.changed = asyncio.Event()

    def add(self, payload: dict[str, Any]) -> int:
        seq = self.next_seq
        self.next_seq += 1
        if self.numbered:
            payload = {**payload, "id": seq}
        text = dumps(payload)
        self.frames.append(Frame(seq, text))
        self.bytes += len(text)
        if self.numbered and self.bytes > self.retain_bytes:
            self._drop_oldest()
        self.changed.set()
        return seq

    def _drop_oldest(self) -> None:
        """Bound memory while nobody acknowledges: the oldest frames go, and a resuming client is told."""
        while self.bytes > self.retain_bytes and len(self.frames) > 1:
            frame = self.frames.popleft()
            self.bytes -= len(frame.text)
            if not frame.acked:
                self.dropped_through = frame.seq

    def ack(self, seq: int, through: bool = False) -> None:
        if not self.frames:
            return
        first = self.frames[0].seq
        if through:
            while self.frames and self.frames[0].seq <= seq:
                self.bytes -= len(self.frames.popleft().text)
        elif first <= seq < first + len(self.frames):
            self.frames[seq - first].acked = True
            while self.frames and self.frames[0].acked:
                self.bytes -= len(self.frames.popleft().text)
        self.changed.set()

    def frame_at(self, seq: int) -> Frame | None:
        if not self.frames:
            return None
        index = seq - self.frames[0].seq
        return self.frames[index] if 0 <= index < len(self.frames) else None

    @property
    def first_seq(self) -> int:
        return self.frames[0].seq if self.frames else self.next_seq

    def take(self) -> Frame | None:
        """Without acks: the next frame to write, forgotten once taken."""
        if not self.frames:
            return None
        frame = self.frames.popleft()
        self.bytes -= len(frame.text)
        return frame


class Sender:
    """Writes one session's outbox to one WebSocket (windowed when acknowledgements are on)."""

    def __init__(self, outbox: Outbox, ws: Any, *, window: int, resend_after: float, attempts: int,
                 start: int | None = None) -> None:
        self.outbox = outbox
        self.ws = ws
        self.window = max(1, window)
        self.resend_after = resend_after
        self.attempts = attempts
        self.cursor = outbox.first_seq if start is None else max(start, outbox.first_seq)
        self.gave_up = False

    async def run(self) -> None:
        if self.outbox.numbered:
            await self._run_acked()
        else:
            await self._run_plain()

    async def _run_plain(self) -> None:
        outbox = self.outbox
        while not self.ws.closed:
            outbox.changed.clear()
            frame = outbox.take()
            while frame is not None:
                await self.ws.send_str(frame.text)
                frame = outbox.take()
            await outbox.changed.wait()

    async def _run_acked(self) -> None:
        outbox = self.outbox
        while not self.ws.closed:
            outbox.changed.clear()
            self.cursor = max(self.cursor, outbox.first_seq)
            while self.cursor < outbox.next_seq and self.cursor - outbox.first_seq < self.window:
                frame = outbox.frame_at(self.cursor)
                self.cursor += 1
                if frame is None or frame.acked:
                    continue
                frame.sent_at = time.monotonic()
                frame.attempts += 1
                await self.ws.send_str(frame.text)
            oldest = outbox.frame_at(outbox.first_seq)
            if oldest is None or oldest.sent_at == 0.0:
                await outbox.changed.wait()
                continue
            wait = oldest.sent_at + self.resend_after - time.monotonic()
            if wait > 0:
                try:
                    await asyncio.wait_for(outbox.changed.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue
            if oldest.attempts >= self.attempts:  # the client stopped answering: let it reconnect and resume
                self.gave_up = True
                return
            self.cursor = outbox.first_seq  # send everything unacknowledged again, in order
