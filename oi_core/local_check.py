"""`--model ollama/NAME` without the picker: is Ollama up on the resolved host, is the model there, what it needs.

The host is `api_base`, else OLLAMA_HOST, else localhost:11434 — and the same host then receives the
completions (see `local_models.request_params`). Settings the user left unset are filled from the model's
own numbers (`/api/show`), or from stated defaults when the server cannot be asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .local_models import (
    DEFAULT_CONTEXT_WINDOW,
    OLLAMA,
    PROBE_TIMEOUT,
    LocalChoice,
    LocalModelError,
    LocalServer,
    is_ollama_model,
    ollama_base,
    ollama_name,
    probe,
    resolve,
    share_of,
)


@dataclass(frozen=True)
class ModelCheck:
    """What the check found: "ready" (with the model's settings), "missing", "down", or "skipped"."""

    state: str
    host: str = ""
    name: str = ""
    message: str = ""
    choice: LocalChoice | None = None
    available: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return urlsplit(self.host).netloc or self.host


def listed_as(name: str, available: tuple[str, ...] | list[str]) -> str | None:
    """The name Ollama lists a model under ("llama3.1" is "llama3.1:latest"), or None if it is not there."""
    if name in available:
        return name
    if ":" not in name and f"{name}:latest" in available:
        return f"{name}:latest"
    return None


async def check_ollama_model(
    model: str, api_base: str | None, *, timeout: float = PROBE_TIMEOUT, environ: Mapping[str, str] | None = None
) -> ModelCheck:
    """Ask the Ollama server the model would use whether it has the model; never raises."""
    if not is_ollama_model(model):
        return ModelCheck("skipped")
    host = ollama_base(api_base, environ)
    name = ollama_name(model)
    status = await probe(LocalServer(OLLAMA, host), timeout)
    where = urlsplit(host).netloc or host
    if not status.up:
        return ModelCheck("down", host, name, f"Ollama at {where}: {status.problem}. To start it: {OLLAMA.start_hint}.")
    available = tuple(m.name for m in status.models)
    listed = listed_as(name, available)
    if listed is None:
        return ModelCheck("missing", host, name, f"{name} is not on the Ollama server at {where}.", None, available)
    try:
        choice = await resolve(status, listed)
    except LocalModelError as exc:  # listed but unreadable: still usable, with default numbers
        return ModelCheck("ready", host, listed, exc.message, None, available)
    return ModelCheck("ready", host, listed, "", choice, available)


def settings_to_fill(llm: Any, check: ModelCheck) -> dict[str, Any]:
    """Dotted settings for what the user left unset (None): the checked host, tools, images, window, reply size."""
    values: dict[str, Any] = {}
    if check.state == "skipped":
        return values
    choice = check.choice
    if not getattr(llm, "api_base", None):
        values["llm.api_base"] = check.host
    if getattr(llm, "supports_functions", None) is None:
        values["llm.supports_functions"] = choice.supports_functions if choice else False
    if getattr(llm, "supports_vision", None) is None:
        values["llm.supports_vision"] = choice.supports_vision if choice else False
    window = getattr(llm, "context_window", None)
    if window is None:
        window = choice.context_window if choice else DEFAULT_CONTEXT_WINDOW
        values["llm.context_window"] = window
    if getattr(llm, "max_tokens", None) is None:
        values["llm.max_tokens"] = share_of(int(window))
    return values


def run_check(model: str, api_base: str | None) -> ModelCheck:
    """The check from synchronous code (the command line, before any event loop runs)."""
    return asyncio.run(check_ollama_model(model, api_base))


__all__ = ["ModelCheck", "check_ollama_model", "listed_as", "run_check", "settings_to_fill"]
