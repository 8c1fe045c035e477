"""`computer.terminal`: finds the runner for a language and runs code through it."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator
from typing import Any

from .base import Language, NoInput, RunIO

ALIASES = {
    "py": "python",
    "python3": "python",
    "ipython": "python",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "console": "shell",
    "terminal": "shell",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "htm": "html",
    "ps1": "powershell",
    "pwsh": "powershell",
    "rb": "ruby",
    "osascript": "applescript",
}


def default_language_classes() -> list[type]:
    """The built-in runners, imported lazily so `import oi_core` stays fast."""
    from .languages import builtin_languages

    return builtin_languages()


class SyncLanguageAdapter(Language):
    """Runs a reference-style custom language (sync `run(code)` generator, `stop()`, `terminate()`)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.aliases = tuple(getattr(inner, "aliases", ()) or ())

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        result = self.inner.run(code)
        if hasattr(result, "__aiter__"):
            async for chunk in result:
                yield dict(chunk)
            return
        if isinstance(result, dict):
            yield dict(result)
            return
        if isinstance(result, list):
            for chunk in result:
                yield dict(chunk)
            return
        iterator = iter(result or ())
        done = object()
        while True:
            chunk = await asyncio.to_thread(next, iterator, done)
            if chunk is done:
                return
            yield dict(chunk)  # type: ignore[arg-type]

    async def astop(self) -> None:
        stop = getattr(self.inner, "stop", None)
        if stop:
            result = stop()
            if inspect.isawaitable(result):
                await result

    async def aterminate(self) -> None:
        terminate = getattr(self.inner, "terminate", None)
        if terminate:
            result = terminate()
            if inspect.isawaitable(result):
                await result


def canonical(language: str) -> str:
    key = (language or "").strip().lower()
    return ALIASES.get(key, key)


class Terminal:
    def __init__(self, computer: Any) -> None:
        self.computer = computer
        self._language_specs: list[Any] | None = None
        self._instances: dict[str, Language] = {}
        self._active: Language | None = None
        self._runtime_found: set[str] = set()  # languages whose runtime was found once (not looked up again)
        self._available: tuple[tuple[Any, ...], list[str]] | None = None  # (key, names): see available_languages

    # ------------------------------------------------------------ languages

    @property
    def languages(self) -> list[Any]:
        if self._language_specs is None:
            self._language_specs = list(default_language_classes())
        return self._language_specs

    @languages.setter
    def languages(self, specs: list[Any]) -> None:
        self._language_specs = list(specs)
        self._instances = {}
        self._runtime_found = set()
        self._available = None

    def _spec_names(self, spec: Any) -> list[str]:
        names = [str(getattr(spec, "name", ""))] + list(getattr(spec, "aliases", ()) or ())
        return [n.lower() for n in names if n]

    def get_language(self, language: str) -> Language | None:
        wanted = canonical(language)
        for spec in self.languages:
            names = self._spec_names(spec)
            if wanted in names or (language or "").lower() in names:
                key = names[0]
                if key not in self._instances:
                    self._instances[key] = self._instantiate(spec)
                return self._instances[key]
        return None

    def _instantiate(self, spec: Any) -> Language:
        instance = spec
        if inspect.isclass(spec):
            try:
                instance = spec(self.computer)
            except TypeError:
                instance = spec()
        if isinstance(instance, Language):
            if instance.computer is None:
                instance.computer = self.computer
            return instance
        return SyncLanguageAdapter(instance)

    def language_names(self) -> list[str]:
        return [self._spec_names(spec)[0] for spec in self.languages if self._spec_names(spec)]

    def available_languages(self) -> list[str]:
        """Names of the languages whose runtime is installed here (asked every turn: looked up again only
        when the language table or PATH changed)."""
        key = (*self.languages, os.environ.get("PATH", ""))  # the specs themselves: an in-place edit shows too
        cached = self._available
        if cached is not None and cached[0] == key:
            return list(cached[1])
        names = []
        for name in self.language_names():
            runner = self.get_language(name)
            if runner is not None and runner.missing_runtime() is None:
                names.append(name)
        self._available = (key, names)
        return list(names)

    def is_runnable(self, language: str) -> bool:
        return self.get_language(language) is not None

    # ------------------------------------------------------------ running

    async def arun(self, language: str, code: str, io: RunIO | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run code, yielding LMC chunks with role "computer"."""
        runner = self.get_language(language)
        if runner is None:
            known = ", ".join(self.language_names())
            yield _output(f"{language or 'That language'} is not supported here. Languages available: {known}.")
            yield _FAILED
            return
        if runner.name not in self._runtime_found:  # looking (imports, PATH) touches the disk: off the loop
            missing = await asyncio.to_thread(runner.missing_runtime)
            if missing:
                yield _output(missing)
                yield _FAILED
                return
            self._runtime_found.add(runner.name)
        self._active = runner
        try:
            async for chunk in runner.arun(code, io or NoInput()):
                chunk = dict(chunk)
                chunk.setdefault("role", "computer")
                yield chunk
        finally:
            self._active = None

    async def astop(self) -> None:
        if self._active is not None:
            await self._active.astop()

    async def aterminate(self) -> None:
        for runner in list(self._instances.values()):
            try:
                await runner.aterminate()
            except Exception:
                pass
        self._instances = {}

    async def astart(self, language: str) -> None:
        """Warm a language up; nothing here blocks the loop (the Python runner's imports happen in a thread)."""
        runner = self.get_language(language)
        if runner is not None and await asyncio.to_thread(runner.missing_runtime) is None:
            self._runtime_found.add(runner.name)
            await runner.astart()


def _output(text: str) -> dict[str, Any]:
    return {"role": "computer", "type": "console", "format": "output", "content": text}


_FAILED = {"role": "computer", "type": "console", "format": "outcome", "content": "error"}  # code that could not run
