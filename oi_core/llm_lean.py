"""The first turn does not wait for litellm: a small streaming client for OpenAI-compatible endpoints.

litellm takes about three seconds to import (much longer on a busy machine), and a message typed right
after launch used to wait for it. Until litellm is imported, a model that litellm would send to an
OpenAI-compatible chat-completions endpoint (an `openai/…` model, or an OpenAI model name) is streamed
here with httpx instead: the same request body litellm sends, each server-sent event read into the same
`Delta` (llm.delta_from_chunk), and every failure raised as an exception that `errors.describe_llm_error`
turns into the same sentence as litellm's. What litellm would look up before the request (function
calling, vision, context window, price) is read from the model table litellm ships, without importing it.
Once litellm is imported, it is used for everything again, except streaming from a server the user named
for a model litellm does not know: litellm would pass that request through unchanged, at ~30x the CPU per
chunk (`streams_lean`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from . import tls

if TYPE_CHECKING:
    from .llm import Delta, Llm

#: OpenAI model names litellm routes to OpenAI without a provider prefix.
_OPENAI_NAMES = ("gpt-", "o1", "o3", "o4", "chatgpt-")
#: Statuses the OpenAI client retries (as litellm's requests do), with its back-off.
_RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504)
_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)

litellm_imported = threading.Event()
"""Set once `import litellm` has completed (llm.import_litellm sets it)."""


def litellm_ready() -> bool:
    return litellm_imported.is_set()


def openai_compatible(llm: "Llm") -> str | None:
    """The model name to send when litellm would call an OpenAI-compatible chat endpoint for `llm`, else None."""
    model = str(llm.model or "")
    if llm.completions is not None or llm.api_version:
        return None
    if model.startswith("openai/"):
        return model.split("/", 1)[1] or None
    if "/" not in model and model.startswith(_OPENAI_NAMES):
        return model
    return None


def use_lean(llm: "Llm") -> bool:
    """Stream without litellm: it is not imported yet and the model needs nothing only litellm knows."""
    return not litellm_ready() and openai_compatible(llm) is not None


def passed_through(llm: "Llm") -> bool:
    """litellm would send this request unchanged: a model it has no entry for, on an OpenAI-compatible server
    the user named (LM Studio, llama.cpp, vLLM, a proxy...). Known models keep litellm, which knows their quirks."""
    return bool(llm.api_base) and openai_compatible(llm) is not None and model_info(llm) is None


def streams_lean(llm: "Llm") -> bool:
    """Stream with httpx rather than litellm: while litellm imports, and whenever it would add nothing.

    litellm spends ~1 ms of CPU on each chunk (httpx and a JSON parse: ~0.03 ms) on a thread that shares the
    interpreter lock with the UI: at 1,000 chunks/s that held key echo up to ~200 ms (bench_e2e). Reads the
    model table on first use: call it off the UI loop.
    """
    return use_lean(llm) or passed_through(llm)


# ---------------------------------------------------------------- what litellm would look up


@lru_cache(maxsize=1)
def _model_table() -> dict[str, Any]:
    """litellm's bundled model table (read as a file: importing litellm is what we avoid)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = os.path.join(list(spec.submodule_search_locations)[0], "model_prices_and_context_window_backup.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def model_info(llm: "Llm") -> dict[str, Any] | None:
    """The table entry litellm would use for an OpenAI-compatible model (None when it does not know it)."""
    name = openai_compatible(llm)
    if name is None:
        return None
    table = _model_table()
    info = table.get(name) or table.get(f"openai/{name}")
    if not isinstance(info, dict) or info.get("litellm_provider") not in (None, "openai"):
        return None
    return info


def supports(llm: "Llm", feature: str) -> bool:
    info = model_info(llm)
    return bool(info and info.get(feature))


def context_window(llm: "Llm") -> int | None:
    info = model_info(llm) or {}
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if window else None


def cost(llm: "Llm", prompt_tokens: int, completion_tokens: int) -> float:
    info = model_info(llm) or {}
    return float(prompt_tokens * (info.get("input_cost_per_token") or 0)
                 + completion_tokens * (info.get("output_cost_per_token") or 0))


# ---------------------------------------------------------------- the request


class LeanStatusError(Exception):
    """An HTTP error status, shaped like the OpenAI client's (status_code, body) so it is described the same."""

    def __init__(self, status_code: int, body: Any, text: str) -> None:
        message = text
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                message = inner["message"]
        super().__init__(f"Error code: {status_code} - {message}")
        self.status_code = status_code
        self.body = body
        self.message = message


class LeanConnectionError(Exception):
    """The endpoint could not be reached (worded as the OpenAI client words it)."""


def _request(llm: "Llm", messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
             api_key: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    name = openai_compatible(llm)
    body: dict[str, Any] = {"model": name, "messages": messages, "temperature": llm.temperature, "stream": True,
                            "stream_options": {"include_usage": True}}
    if tools:
        body["tools"] = tools
    if llm.max_tokens:
        body["max_tokens"] = int(llm.max_tokens)
    base = (llm.api_base or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(llm.extra_headers or {})
    return f"{base}/chat/completions", headers, body


async def lean_deltas(llm: "Llm", messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                      api_key: str | None = None) -> AsyncIterator["Delta"]:
    """Stream one completion as Deltas; raises what litellm's path raises for the same failures."""
    _stream_started()
    try:
        async with aclosing(_stream(llm, messages, tools, api_key)) as stream:  # the client closes here, at once
            async for delta in stream:
                yield delta
    finally:
        _stream_ended()


async def _stream(llm: "Llm", messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                  api_key: str | None) -> AsyncIterator["Delta"]:
    import httpx

    from .errors import LlmError, dropped_mid_reply, empty_reply, not_a_stream
    from .llm import Delta, delta_from_chunk

    url, headers, body = _request(llm, messages, tools, api_key)
    timeout = httpx.Timeout(llm.request_timeout, connect=min(llm.request_timeout, 60.0))
    attempts = max(0, int(llm.max_retries or 0)) + 1
    async with httpx.AsyncClient(timeout=timeout, verify=tls.context()) as client:  # on the relay loop
        for attempt in range(attempts):
            try:
                async with client.stream("POST", url, headers=headers, json=body) as response:
                    if response.status_code >= 400:
                        raw = await response.aread()
                        if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                            await asyncio.sleep(_RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)])
                            continue
                        raise _status_error(response.status_code, raw)
                    content_type = response.headers.get("content-type", "").lower()
                    finished = replied = False
                    events = 0
                    async for data in _events(response):
                        if data == "[DONE]":
                            break
                        events += 1
                        delta = delta_from_chunk(json.loads(data))  # a malformed event raises JSONDecodeError
                        finished = finished or bool(delta.finish_reason)
                        replied = replied or bool(delta.content or delta.tool_calls)
                        yield delta
                    if not events:  # nothing readable at all: litellm ends such a response as a finished empty one
                        yield Delta(finish_reason="stop")
                        yield Delta()
                        finished = True
                    if not finished:  # events, then the end without a finish_reason: cut off
                        raise LlmError(dropped_mid_reply(llm.model, llm.api_base))
                    if not replied:
                        if content_type and "event-stream" not in content_type:
                            raise LlmError(not_a_stream(llm.model, llm.api_base, content_type))
                        raise LlmError(empty_reply(llm.model, llm.api_base))
                    return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt + 1 < attempts:
                    await asyncio.sleep(_RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)])
                    continue
                raise LeanConnectionError("Connection error.") from exc


def _status_error(status: int, raw: bytes) -> LeanStatusError:
    text = raw.decode("utf-8", "replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    return LeanStatusError(status, body, text.strip())


async def _events(response: Any) -> AsyncIterator[str]:
    """The `data:` payloads of a server-sent event stream, one per event (multi-line data joined)."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def lean_import_warm() -> None:
    """Load all a first lean request would load before litellm's long import starts.

    httpx, the HTTP stacks it imports on first use (httpcore, h11, h2), anyio's asyncio backend and the
    TLS store: a request that loads them while litellm imports waits on the import locks and the GIL
    (measured: ~0.4 s of a first token 1 s after launch).
    """
    import anyio._backends._asyncio  # noqa: F401  (loaded when the first connection opens)
    import httpcore  # noqa: F401
    import httpx  # noqa: F401

    try:
        tls.context()
    except Exception:  # e.g. SSL_CERT_FILE names no file: the first request says so, litellm still warms up
        pass


#: Lean streams running now; litellm's background import waits for them to end (`wait_until_idle`).
_streams_running = 0
_streams_changed = threading.Condition()
_last_stream_end = float("-inf")  # time.monotonic() when the last one ended
#: The longest the background import waits for lean streams and typing (a leaked count cannot hold it for
#: ever). Meanwhile requests stream lean and tokens are estimated, so a long wait costs nothing visible.
IMPORT_WAIT_LIMIT = 300.0
#: How long after the last lean stream ended the import still waits (the turn's end, e.g. a stop, is drawn).
QUIET_AFTER_STREAM = 1.0
#: How long after the user's last key the import still waits (a front end tells keys: `user_typed`).
QUIET_AFTER_TYPING = 1.0
_last_key = float("-inf")  # time.monotonic() of the last key a front end told


def user_typed() -> None:
    """A front end's key press: litellm's import (seconds of GIL, echo held up to ~170 ms) waits for a pause."""
    global _last_key
    _last_key = time.monotonic()


def _stream_started() -> None:
    global _streams_running
    with _streams_changed:
        _streams_running += 1


def _stream_ended() -> None:
    global _streams_running, _last_stream_end
    with _streams_changed:
        _streams_running -= 1
        _last_stream_end = time.monotonic()
        _streams_changed.notify_all()


def wait_until_idle(limit: float = IMPORT_WAIT_LIMIT, quiet: float = QUIET_AFTER_STREAM, typing: bool = True) -> bool:
    """Block (a background thread) until no lean stream has run for `quiet` s and (with `typing`) no key was
    typed for QUIET_AFTER_TYPING s; False if `limit` s pass first.

    litellm's import holds the GIL for seconds; run beside a first request it doubled that request's time
    to the first token, so it starts once the early turn's stream is over (and its end drawn).
    """
    deadline = time.monotonic() + limit
    with _streams_changed:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return False
            if _streams_running > 0:
                _streams_changed.wait(deadline - now)
                continue
            settled = max(_last_stream_end + quiet, _last_key + QUIET_AFTER_TYPING if typing else float("-inf"))
            if now >= settled:
                return True
            _streams_changed.wait(min(settled, deadline) - now)
