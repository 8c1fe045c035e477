"""PLACEHOLDER runners (one process per run) until the kernel-backed runners land (issue 3)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from ..base import Language, RunIO


class _ProcessLanguage(Language):
    argv: list[str] = []

    def __init__(self, computer: Any = None) -> None:
        super().__init__(computer)
        self._proc: asyncio.subprocess.Process | None = None

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv, code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        while True:
            data = await self._proc.stdout.read(65536)
            if not data:
                break
            yield {"type": "console", "format": "output", "content": data.decode(errors="replace")}
        await self._proc.wait()

    async def astop(self) -> None:
        if self._proc and self._proc.returncode is None:
            self._proc.terminate()


class PythonSubprocess(_ProcessLanguage):
    name = "python"
    argv = [sys.executable, "-c"]


class Shell(_ProcessLanguage):
    name = "shell"
    aliases = ("bash", "sh")
    argv = ["bash", "-c"]
