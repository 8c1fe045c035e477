"""`interpreter.computer`: runs code (terminal) and, in OS mode, drives the screen, mouse and keyboard."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..loop_thread import LoopThread
from .base import RunIO
from .terminal import Terminal

# Parts of the computer API, created on first use so that importing the core stays cheap.
_PARTS = {
    "display": ("oi_core.computer.display", "Display"),
    "mouse": ("oi_core.computer.mouse", "Mouse"),
    "keyboard": ("oi_core.computer.keyboard", "Keyboard"),
    "clipboard": ("oi_core.computer.clipboard", "Clipboard"),
    "os": ("oi_core.computer.os_api", "Os"),
    "mail": ("oi_core.computer.macos", "Mail"),
    "sms": ("oi_core.computer.macos", "Sms"),
    "contacts": ("oi_core.computer.macos", "Contacts"),
    "calendar": ("oi_core.computer.macos", "Calendar"),
}


def merge_outputs(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Collapse streamed chunks into whole messages (consecutive console output joined); a failed run's
    verdict becomes `"status": "error"` on its last output message, as on a stored conversation."""
    messages: list[dict[str, Any]] = []
    failed = False
    for chunk in chunks:
        if chunk.get("start") or chunk.get("end") or chunk.get("format") == "active_line":
            continue
        if chunk.get("type") == "console" and chunk.get("format") == "outcome":
            failed = failed or chunk.get("content") == "error"
            continue
        if (
            messages
            and chunk.get("type") == "console"
            and messages[-1].get("type") == "console"
            and messages[-1].get("format") == chunk.get("format")
        ):
            messages[-1]["content"] += str(chunk.get("content") or "")
            continue
        messages.append({k: v for k, v in chunk.items() if k in ("role", "type", "format", "content")})
    if failed:
        outputs = [m for m in messages if m.get("type") == "console" and m.get("format") == "output"]
        if not outputs:
            outputs.append({"role": "computer", "type": "console", "format": "output", "content": ""})
            messages.append(outputs[-1])
        outputs[-1]["status"] = "error"
    return messages


class Computer:
    def __init__(self, interpreter: Any = None) -> None:
        self.interpreter = interpreter
        self.terminal = Terminal(self)
        self.offline = False
        self.verbose = False
        self.emit_images = True
        self.import_computer_api = False
        self.max_output = 2800  # characters of a run's output kept for the model (see llm.max_output)
        self._own_loop: LoopThread | None = None
        self._parts: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        spec = _PARTS.get(name)
        if spec is None:
            raise AttributeError(name)
        parts = self.__dict__.setdefault("_parts", {})
        if name not in parts:
            module = importlib.import_module(spec[0])
            parts[name] = getattr(module, spec[1])(self)
        return parts[name]

    # ------------------------------------------------------------ languages

    @property
    def languages(self) -> list[Any]:
        return self.terminal.languages

    @languages.setter
    def languages(self, specs: list[Any]) -> None:
        self.terminal.languages = specs

    # ------------------------------------------------------------ running

    def _loop_thread(self) -> LoopThread:
        if self.interpreter is not None:
            return self.interpreter._loop_thread
        if self._own_loop is None:
            self._own_loop = LoopThread("oi-computer")
        return self._own_loop

    async def arun(self, language: str, code: str, io: RunIO | None = None) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self.terminal.arun(language, code, io):
            yield chunk

    def run(self, language: str, code: str, stream: bool = False, display: bool = False) -> Any:
        """Run code synchronously: a list of output messages, or a generator of chunks with stream=True."""
        chunks = self._loop_thread().iterate(self.arun(language, code))
        if stream:
            return self._echo(chunks) if display else chunks
        collected = list(self._echo(chunks) if display else chunks)
        return merge_outputs(collected)

    @staticmethod
    def _echo(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for chunk in chunks:
            if chunk.get("type") == "console" and chunk.get("format") == "output":
                print(chunk.get("content") or "", end="", flush=True)
            yield chunk

    async def astop(self) -> None:
        await self.terminal.astop()

    def stop(self) -> None:
        """Stop the running code (from any thread); returns once it has stopped."""
        self._call_on_loop(self.astop())

    async def aterminate(self) -> None:
        await self.terminal.aterminate()

    def terminate(self) -> None:
        self._call_on_loop(self.aterminate())

    def _call_on_loop(self, coro: Any) -> None:
        """Run `coro` on the loop the runs use and wait, but never for ever: if that loop is stopped (the
        interpreter shutting down in another thread), there is nothing left to wait for."""
        loop = self._loop_thread().loop
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            while True:
                try:
                    future.result(timeout=0.25)
                    return
                except concurrent.futures.CancelledError:  # the loop was stopped: its tasks were cancelled
                    return
                except concurrent.futures.TimeoutError:
                    if not loop.is_running():
                        future.cancel()
                        return
        except KeyboardInterrupt:
            future.cancel()
            raise
