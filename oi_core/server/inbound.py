"""A user's message as it arrives over the WebSocket: LMC frames between `start` and `end`, checked one by one.

    {"role": "user", "start": true}
    {"role": "user", "type": "message", "content": "Describe this"}     (may arrive in several pieces)
    {"role": "user", "type": "image", "format": "path", "content": "/tmp/shot.png"}
    {"role": "user", "type": "image", "format": "base64.png", "content": "iVBORw0..."}
    {"role": "user", "type": "file", "content": "/data/report.csv"}
    {"role": "user", "end": true}

Each problem is one sentence for an error frame; nothing half-assembled is ever sent to the model.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

IMAGE_FORMATS = ("path", "base64", "base64.png", "base64.jpeg", "base64.jpg", "base64.gif", "base64.webp")


class InboundError(Exception):
    """A frame that cannot be part of a message; `message` is the sentence for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InboundMessage:
    """Collects the items of one user message until its `end` frame."""

    def __init__(self) -> None:
        self.open = False
        self.opened_by: str | None = None  # the type of a typed start frame ({"type": "message", "start": true})
        self.items: list[dict[str, Any]] = []
        self.failed = False  # a frame of this message was refused: the rest is ignored until its end

    def reset(self) -> None:
        self.open = False
        self.opened_by = None
        self.items = []
        self.failed = False

    def start(self, kind: str | None) -> bool:
        """A start frame; True when it opened the message (a typed start inside an open one only marks a part)."""
        if self.open:
            if kind is None:
                self.reset()
                self.open = True
                raise InboundError("A new message started before the previous one ended; the unfinished one was "
                                   "dropped.")
            return False
        self.open = True
        self.opened_by = kind
        return True

    def end(self, kind: str | None) -> list[dict[str, Any]] | None:
        """An end frame: the finished items when it closes the message, None when it only ends a part."""
        if not self.open:
            raise InboundError('An "end" frame arrived with no message open; send {"role": "user", "start": true} '
                               "first.")
        if kind is not None and self.opened_by != kind:
            return None  # the end of one part of a message opened by a bare start
        items, failed = self.items, self.failed
        self.reset()
        if failed:
            return None  # already refused (one error per message)
        if not any(str(item.get("content") or "").strip() for item in items):
            raise InboundError("The message was empty, so nothing was sent.")
        return items

    def add(self, frame: dict[str, Any]) -> None:
        """One content frame of the open message."""
        kind = frame.get("type")
        if not self.open:
            raise InboundError(f'A {kind} frame arrived before the message started; send {{"role": "user", '
                               '"start": true}, then the content, then {"role": "user", "end": true}.')
        if self.failed:
            return
        try:
            self._add(kind, frame.get("content"), frame)
        except InboundError:
            self.failed, self.items = True, []
            raise

    def _add(self, kind: Any, content: Any, frame: dict[str, Any]) -> None:
        if kind == "message":
            if content is None:
                return
            if not isinstance(content, str):
                raise InboundError("A message frame's content must be text.")
            last = self.items[-1] if self.items else None
            if last is not None and last["type"] == "message":
                last["content"] += content
            else:
                self.items.append({"role": "user", "type": "message", "content": content})
        elif kind == "image":
            self.items.append(_image(frame.get("format"), content))
        elif kind == "file":
            if not isinstance(content, str) or not content.strip():
                raise InboundError("A file frame's content must be the path of a file on the server.")
            self.items.append({"role": "user", "type": "file", "content": content})
        elif kind == "audio":
            raise InboundError("Audio messages are not supported by this server; send text instead.")
        else:
            raise InboundError(f"Unknown content type {kind!r}: use message, image or file.")


def _image(fmt: Any, content: Any) -> dict[str, Any]:
    fmt = str(fmt or "base64")
    if fmt not in IMAGE_FORMATS:
        raise InboundError(f"Unknown image format {fmt!r}: use path, base64, base64.png or base64.jpeg.")
    if not isinstance(content, str) or not content.strip():
        raise InboundError("An image frame needs its content: a path on the server, or base64 data.")
    return {"role": "user", "type": "image", "format": fmt, "content": content}


def check_items(items: list[dict[str, Any]]) -> None:
    """File-system and decoding checks of a finished message (run in a thread: paths and big base64)."""
    for item in items:
        content = str(item.get("content") or "")
        if item["type"] == "image" and item.get("format") == "path":
            if not Path(content).expanduser().is_file():
                raise InboundError(f"The image {content} does not exist on the server, so the message was not sent.")
        elif item["type"] == "image":
            data = content.split(",", 1)[1] if content.startswith("data:") else content
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise InboundError("An image's base64 data could not be decoded, so the message was not sent.") from None
        elif item["type"] == "file" and not Path(content).expanduser().exists():
            raise InboundError(f"The file {content} does not exist on the server, so the message was not sent.")
