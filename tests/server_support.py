"""Helpers for the server tests: a real `Server` on its own loop in a thread, and a client speaking the frames."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import aiohttp

from oi_core.server import Server, ServerConfig

COMPLETE = {"role": "server", "type": "status", "content": "complete"}


class ServerThread:
    """A Server listening on a free loopback port, run by its own event loop (as `oi-tui --server` would)."""

    def __init__(self, template: Any, **config: Any) -> None:
        config.setdefault("port", 0)
        self.server = Server(template, ServerConfig(**config))
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="oi-server", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve_forever(lambda _server: self._ready.set()))

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(60)
            self._thread.join(30)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (to look at sessions from a test)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url


class FrameClient:
    """A WebSocket client written from the documentation: auth frame, LMC frames, acknowledgements."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, ack: bool = False) -> None:
        self.ws = ws
        self.ack = ack
        self.seen_ids: list[int] = []
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, key: str = "any-key", **auth: Any) -> "FrameClient":
        ws = await http.ws_connect(url, max_msg_size=0)
        client = cls(ws, ack=bool(auth.get("ack")))
        await ws.send_json({"auth": key, **auth})
        client.hello = await ws.receive_json(timeout=30)
        return client

    async def send_message(self, text: str | None = None, *items: dict[str, Any]) -> None:
        await self.ws.send_json({"role": "user", "start": True})
        if text is not None:
            await self.ws.send_json({"role": "user", "type": "message", "content": text})
        for item in items:
            await self.ws.send_json({"role": "user", **item})
        await self.ws.send_json({"role": "user", "end": True})

    async def command(self, content: str, **extra: Any) -> None:
        await self.ws.send_json({"role": "user", "type": "command", "content": content, **extra})

    async def next(self, timeout: float = 60) -> dict[str, Any]:
        """The next new frame (acknowledged, duplicates by id dropped)."""
        while True:
            data = await self.ws.receive_json(timeout=timeout)
            if "id" in data and isinstance(data["id"], int):
                if self.ack:
                    await self.ws.send_json({"ack": data["id"]})
                if data["id"] in self.seen_ids:
                    continue  # a resent frame we already have
                self.seen_ids.append(data["id"])
            self.frames.append(data)
            return data

    async def until(self, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
        """Frames up to and including the first one `predicate` accepts."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next(timeout=max(0.1, deadline - time.monotonic()))
            got.append(frame)
            if predicate(frame):
                return got

    async def until_complete(self, timeout: float = 60) -> list[dict[str, Any]]:
        return await self.until(is_complete, timeout)

    async def close(self) -> None:
        await self.ws.close()


def is_complete(frame: dict[str, Any]) -> bool:
    return {k: v for k, v in frame.items() if k != "id"} == COMPLETE


def text_of(frames: list[dict[str, Any]], role: str = "assistant", kind: str = "message") -> str:
    return "".join(str(f.get("content") or "") for f in frames
                   if f.get("role") == role and f.get("type") == kind and isinstance(f.get("content"), str))


def output_of(frames: list[dict[str, Any]]) -> str:
    return "".join(str(f.get("content") or "") for f in frames
                   if f.get("role") == "computer" and f.get("type") == "console" and f.get("format") == "output")


def errors_of(frames: list[dict[str, Any]]) -> list[str]:
    return [str(f.get("content")) for f in frames if f.get("role") == "server" and f.get("type") == "error"]


def dumps(value: Any) -> str:
    return json.dumps(value)
