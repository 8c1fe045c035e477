"""The contract every language runner fulfils, and the I/O a run may ask of its caller.

A runner yields LMC chunk dicts *without* the role (the terminal adds `"role": "computer"`):
  {"type": "console", "format": "output", "content": "text"}      coalesced, never one per byte
  {"type": "console", "format": "active_line", "content": 3}       1-based line of the user's code, or None
  {"type": "image", "format": "base64.png", "content": "..."}      (or base64.jpeg)
  {"type": "code", "format": "html", "content": "<b>hi</b>"}       rich output to show, not to run
  {"type": "console", "format": "outcome", "content": "error"}     the run failed (once, just before the final
                                                                    active line; never when the user stopped it)
Runners must be loop-agnostic: create asyncio primitives inside the running loop, never at import
or construction, because the sync API and the TUI drive the core from different loops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class RunIO(Protocol):
    """What a running program may need from whoever started it."""

    async def request_input(self, prompt: str, password: bool = False) -> str:
        """Ask the user for a line of input (running code called input()); raises EOFError if nobody can answer."""
        ...


class NoInput:
    """RunIO for callers that cannot answer: input() gets EOF instead of hanging."""

    async def request_input(self, prompt: str, password: bool = False) -> str:
        raise EOFError("No one is available to answer input() here.")


class Language:
    """Base class for built-in runners (async). Custom, reference-style sync languages are adapted."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    file_extension: str = ""
    #: shown to the model and the user when the runtime is missing: what to install
    install_hint: str = ""

    def __init__(self, computer: Any = None) -> None:
        self.computer = computer

    def missing_runtime(self) -> str | None:
        """None when this language can run here, else one sentence naming what to install."""
        return None

    async def astart(self) -> None:
        """Warm up (start a kernel or process) ahead of the first run; optional."""

    def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def astop(self) -> None:
        """Interrupt the current run; state (variables, cwd) should survive."""

    async def aterminate(self) -> None:
        """Shut the runtime down for good (no orphan processes)."""
