"""The language model: settings as documented (`interpreter.llm.*`) and async streaming through litellm.

litellm costs about three seconds to import, so it is imported on first use (and can be warmed in a
background thread with `Llm.warm_up()`), never on the start-up path.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import LlmError, ProviderError, describe_llm_error, dropped_mid_reply, empty_reply, not_a_stream
from . import llm_lean
from .llm_relay import relay, relay_loop
from .model_names import is_ollama_model
from .settings import SettingsObject
from .surrogates import SurrogateJoiner, scrub

if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# litellm must not fetch catalogs or tokenizers on its own (a model named like "llama-3…" would otherwise
# download a tokenizer from the Hugging Face Hub, retrying for ~20 s without a network)
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

_litellm_lock = threading.Lock()


def import_litellm() -> Any:
    """Import litellm once, quietly and offline."""
    with _litellm_lock:
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True
        llm_lean.litellm_imported.set()
        return litellm


@dataclass
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class Delta:
    """One streamed piece of a completion, provider-neutral."""

    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


EXECUTE_TOOL_NAME = "execute"

#: Tokens a request adds on top of its messages (the priming of the reply), as litellm counts them.
REPLY_PRIMING_TOKENS = 3
#: Token counts remembered per Llm (by message content); far more than a long session's messages.
TOKEN_COUNT_CACHE = 50_000

DEFAULT_EXECUTION_INSTRUCTIONS = (
    "To run code on the user's machine, write a Markdown code block whose opening fence names the "
    "language (```python, ```shell, ...). It runs as soon as the user approves it, and you receive its output."
)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _response_content_type(response: Any) -> str:
    """The Content-Type litellm saw on the HTTP response ("" when it does not say)."""
    hidden = getattr(response, "_hidden_params", None)
    headers = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    if isinstance(headers, dict):
        return str(headers.get("llm_provider-content-type") or "").lower()
    return ""


def _calls_key(tool_calls: Any) -> Any:
    """A cheap hashable form of a message's tool calls (their ids, names and argument strings)."""
    if not tool_calls:
        return None
    try:
        return tuple((c.get("id"), c["function"].get("name"), c["function"].get("arguments")) for c in tool_calls)
    except (AttributeError, KeyError, TypeError):
        return json.dumps(tool_calls, sort_keys=True, default=str)


def delta_from_chunk(chunk: Any) -> Delta:
    """Read an OpenAI-style streaming chunk (dict or litellm object) into a Delta."""
    out = Delta()
    usage = _get(chunk, "usage")
    if usage:
        out.prompt_tokens = _get(usage, "prompt_tokens")
        out.completion_tokens = _get(usage, "completion_tokens")
    choices = _get(chunk, "choices") or []
    if not choices:
        return out
    out.finish_reason = _get(choices[0], "finish_reason")
    delta = _get(choices[0], "delta") or _get(choices[0], "message") or {}
    out.content = _get(delta, "content") or ""
    for position, call in enumerate(_get(delta, "tool_calls") or []):
        function = _get(call, "function") or {}
        out.tool_calls.append(
            ToolCallDelta(
                index=_get(call, "index", position) or 0,
                id=_get(call, "id"),
                name=_get(function, "name"),
                arguments=_get(function, "arguments") or "",
            )
        )
    legacy = _get(delta, "function_call")
    if legacy:
        out.tool_calls.append(
            ToolCallDelta(index=0, name=_get(legacy, "name"), arguments=_get(legacy, "arguments") or "")
        )
    return out


def rough_size(text: str) -> int:
    """A text's size for token estimates, in UTF-8 bytes: a CJK character (about a token) counts 3, not 1."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def rough_tokens(content: Any, tool_calls: Any = None) -> int:
    """A generous token estimate without a tokenizer (English runs ~4 bytes a token, CJK ~3)."""
    return (rough_size(str(content or "")) + rough_size(str(tool_calls or ""))) // 3 + 4


class Llm(SettingsObject):
    """`interpreter.llm`: which model, how to reach it, and what it can do."""

    _settings_owner = "llm"

    def __init__(self, interpreter: "OpenInterpreter | None" = None) -> None:
        self.interpreter = interpreter
        self.model: str = "gpt-4o"
        self.temperature: float = 0.0
        self.context_window: int | None = None
        self.max_tokens: int | None = None
        self.max_output: int = 2800
        self.api_base: str | None = None
        self.api_key: str | None = None
        self.api_version: str | None = None
        self.supports_functions: bool | None = None
        self.supports_vision: bool | None = None
        self.execution_instructions: str = DEFAULT_EXECUTION_INSTRUCTIONS
        self.completions: Callable[..., Any] | None = None
        self.request_timeout: float = 600.0
        self.max_retries: int = 2  # retries on 429/5xx/timeouts before the error reaches the user
        self.extra_headers: dict[str, str] | None = None
        from . import secrets

        secrets.watch(self)  # a key set here is redacted wherever text is printed or stored

    def _alias_holder(self, path: str) -> Any:
        if path.startswith("llm."):
            return self
        return self.interpreter  # e.g. llm.max_budget, documented in some profiles, is the interpreter's

    # ------------------------------------------------------------ capabilities

    def warm_up(self) -> threading.Thread:
        """Import litellm in a background thread so the first request does not pay for it."""
        thread = threading.Thread(target=self._warm, name="litellm-import", daemon=True)
        thread.start()
        return thread

    def _warm(self) -> None:
        """Import litellm, then load what the first turn's accounting needs (the tokenizer ~0.5 s, the price table)."""
        llm_lean.lean_import_warm()  # a message sent before litellm is imported streams without it (llm_lean)
        relay_loop()  # the thread every stream is read on
        # An early first turn streams alone (the import would halve its share of the GIL), and keys typed meanwhile
        # echo at once (the import held some up to ~170 ms). Only a model that can stream without litellm waits
        # for typing to pause: any other needs litellm for its first request.
        llm_lean.wait_until_idle(typing=llm_lean.openai_compatible(self) is not None)
        import_litellm()
        try:
            self.message_tokens({"role": "user", "content": "warm up"})
            self.cost(1, 1)  # on the loop at the end of a turn (after Esc too): ~40 ms the first time
        except Exception:  # a model litellm does not know: the real turn says so
            pass

    def uses_functions(self) -> bool:
        if self.supports_functions is not None:
            return bool(self.supports_functions)
        if self.completions is not None or is_ollama_model(self.model):
            return False  # an Ollama model writes code blocks unless its server says it takes tools (local_check)
        if llm_lean.use_lean(self):  # litellm is still importing: its own table, read without it
            return llm_lean.supports(self, "supports_function_calling")
        try:
            return bool(import_litellm().supports_function_calling(self.model))
        except Exception:
            return False

    def uses_vision(self) -> bool:
        if self.supports_vision is not None:
            return bool(self.supports_vision)
        if self.completions is not None or is_ollama_model(self.model):
            return False  # litellm would ask the default Ollama host; the local check fills this in from the server
        if llm_lean.use_lean(self):
            return llm_lean.supports(self, "supports_vision")
        try:
            return bool(import_litellm().supports_vision(self.model))
        except Exception:
            return False

    def effective_context_window(self) -> int:
        if self.context_window:
            return int(self.context_window)
        # litellm looks an Ollama model up on the default host (the network, on this thread): never ask it
        if llm_lean.use_lean(self):
            return llm_lean.context_window(self) or 8000
        if self.completions is None and not is_ollama_model(self.model):
            try:
                info = import_litellm().get_model_info(self.model)
                window = info.get("max_input_tokens") or info.get("max_tokens")
                if window:
                    return int(window)
            except Exception:
                pass
        return 8000

    def resolved_api_key(self) -> str | None:
        """Explicit setting first, then the provider's environment variable (litellm reads it), then the keyring."""
        if self.api_key:
            return self.api_key
        from . import secrets

        return secrets.lookup_api_key(self.model, api_base=self.api_base)

    # ------------------------------------------------------------ token accounting

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Tokens of a request's messages (litellm's count, one message at a time, remembered)."""
        return self.request_tokens(messages)

    def request_tokens(self, messages: list[dict[str, Any]]) -> int:
        return REPLY_PRIMING_TOKENS + sum(self.message_tokens(m) for m in messages)

    def message_tokens(self, message: dict[str, Any]) -> int:
        """One message's tokens, counted once per content: a long session never re-counts its history."""
        content = message.get("content")
        tool_calls = message.get("tool_calls")
        key = hash((self.model, message.get("role"), content if isinstance(content, str) or content is None
                    else json.dumps(content, sort_keys=True, default=str), _calls_key(tool_calls),
                    message.get("tool_call_id"), message.get("name")))
        counts = self.__dict__.setdefault("_token_counts", {})
        count = counts.get(key)
        if count is None and llm_lean.use_lean(self):  # litellm still importing: a generous estimate, not kept
            return rough_tokens(content, tool_calls)
        if count is None:
            try:
                count = max(0, int(import_litellm().token_counter(model=self.model, messages=[message]))
                            - REPLY_PRIMING_TOKENS)
            except Exception:
                count = rough_tokens(content, tool_calls)
            if len(counts) >= TOKEN_COUNT_CACHE:
                counts.clear()
            counts[key] = count
        return count

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.completions is not None or is_ollama_model(self.model):
            return 0.0  # a local Ollama model is free; litellm would ask the default Ollama host for its price
        if llm_lean.use_lean(self):  # never wait for litellm's import on the UI loop (accounting runs there)
            return llm_lean.cost(self, prompt_tokens, completion_tokens)
        try:
            prompt_cost, completion_cost = import_litellm().cost_per_token(
                model=self.model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
            return float(prompt_cost + completion_cost)
        except Exception:
            return 0.0

    # ------------------------------------------------------------ streaming

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[Delta]:
        """Yield Deltas; every failure surfaces as LlmError with a sentence for the user.

        Model text enters the core here, so this is where surrogate pairs split across deltas are
        joined and lone surrogates replaced: nothing downstream can meet one.
        """
        text = SurrogateJoiner()
        calls: dict[int, SurrogateJoiner] = {}
        async with aclosing(self._deltas(messages, tools)) as deltas:
            async for delta in deltas:
                delta.content = text.feed(delta.content)
                for call in delta.tool_calls:
                    call.arguments = calls.setdefault(call.index, SurrogateJoiner()).feed(call.arguments)
                    if call.name:
                        call.name = scrub(call.name)
                yield delta
        tail = Delta(content=text.close())
        for index, joiner in calls.items():
            held = joiner.close()
            if held:
                tail.tool_calls.append(ToolCallDelta(index=index, arguments=held))
        if tail.content or tail.tool_calls:
            yield tail

    async def _deltas(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[Delta]:
        """The provider's stream as Deltas (custom completions function, httpx or litellm)."""
        if self.completions is not None:
            async for delta in self._stream_custom(messages, tools):
                yield delta
            return

        def provider_stream() -> AsyncIterator[Delta]:
            """httpx or litellm; called on the relay loop, as the choice may read litellm's model table from disk."""
            source = self._lean_deltas if llm_lean.streams_lean(self) else self._litellm_deltas
            return source(messages, tools)

        # parsing runs on its own loop (oi_core.llm_relay), never the caller's (the TUI's)
        async with aclosing(relay(provider_stream)) as deltas:
            async for delta in deltas:
                yield delta

    async def _lean_deltas(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[Delta]:
        """oi_core.llm_lean (see streams_lean for when), failures worded as litellm's."""
        api_key = await asyncio.to_thread(self.resolved_api_key)  # the keyring may block on D-Bus
        if not api_key and not self.api_base:  # litellm's own check names the missing variable
            async for delta in self._litellm_deltas(messages, tools):
                yield delta
            return
        failure: Exception | None = None
        try:
            async for delta in llm_lean.lean_deltas(self, messages, tools, api_key or "not-needed"):
                yield delta
        except (LlmError, asyncio.CancelledError):
            raise
        except Exception as exc:
            failure = exc
        if failure is not None:
            raise self._llm_error(describe_llm_error(failure, self.model, self.api_base), failure)

    async def _litellm_deltas(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[Delta]:
        """litellm's stream as Deltas; runs on the relay loop."""
        litellm = await asyncio.to_thread(import_litellm)
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": self.temperature,
            "timeout": self.request_timeout,
            "max_retries": self.max_retries,
            "stream_options": {"include_usage": True},
        }
        if tools:
            params["tools"] = tools
        if self.max_tokens:
            params["max_tokens"] = int(self.max_tokens)
        if self.api_base:
            params["api_base"] = self.api_base
        from .local_models import register_free_model, request_params

        local = request_params(self.model, self.api_base, self.context_window)
        if local is not None:  # an Ollama model: the host that was checked, its chat route and window size
            params.update(local)
            register_free_model(litellm, local["model"], self.context_window)
        if self.api_version:
            params["api_version"] = self.api_version
        if self.extra_headers:
            params["extra_headers"] = self.extra_headers
        api_key = await asyncio.to_thread(self.resolved_api_key)  # the keyring may block on D-Bus
        if api_key:
            params["api_key"] = api_key
        elif local is not None:
            pass  # Ollama needs no key
        elif self.api_base:
            params["api_key"] = "not-needed"  # local OpenAI-compatible servers ignore it; the client insists
        else:
            missing = self._missing_keys(litellm)
            if missing:
                names = " or ".join(missing)
                raise LlmError(
                    f"No API key for {self.model}: set {names}, store one with `oi-tui --set-key`, "
                    "or point --api_base at a local server."
                )
        failure: Exception | None = None
        try:
            response = await litellm.acompletion(**params)
            finished = replied = False
            async for chunk in response:
                delta = delta_from_chunk(chunk)
                finished = finished or bool(delta.finish_reason)
                replied = replied or bool(delta.content or delta.tool_calls)
                yield delta
            if not finished:
                raise LlmError(dropped_mid_reply(self.model, params.get("api_base")))
            if not replied:
                content_type = _response_content_type(response)
                if content_type and "event-stream" not in content_type:
                    raise LlmError(not_a_stream(self.model, params.get("api_base"), content_type))
                raise LlmError(empty_reply(self.model, params.get("api_base")))
        except LlmError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # litellm wraps every provider failure differently
            failure = exc
        if failure is not None:  # raised outside the handler, so the original (which may hold a key) is not chained
            raise self._llm_error(describe_llm_error(failure, self.model, params.get("api_base")), failure)

    def _llm_error(self, sentence: str, cause: BaseException) -> LlmError:
        """An LlmError whose sentence and cause carry no key: the provider may echo the Authorization header."""
        from .secrets import redact

        error = LlmError(redact(sentence, self.interpreter, [self.api_key or ""]))
        error.__cause__ = ProviderError(redact(f"{type(cause).__name__}: {cause}", self.interpreter,
                                               [self.api_key or ""]))
        return error

    def _missing_keys(self, litellm: Any) -> list[str]:
        try:
            report = litellm.validate_environment(model=self.model)
        except Exception:
            return []
        if report.get("keys_in_environment"):
            return []
        return list(report.get("missing_keys") or [])

    async def _stream_custom(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[Delta]:
        function = self.completions
        assert function is not None
        offered = {
            "messages": messages,
            "model": self.model,
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "api_base": self.api_base,
            "api_key": self.api_key,
            "tools": tools,
        }
        try:
            signature = inspect.signature(function)
            if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
                kwargs = offered
            else:
                kwargs = {k: v for k, v in offered.items() if k in signature.parameters}
        except (TypeError, ValueError):
            kwargs = offered
        failure: Exception | None = None
        try:
            result = function(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            if hasattr(result, "__aiter__"):
                async for chunk in result:
                    yield delta_from_chunk(chunk)
                return
            iterator = iter(result)
            done = object()
            while True:
                chunk = await asyncio.to_thread(next, iterator, done)
                if chunk is done:
                    return
                yield delta_from_chunk(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
        if failure is not None:
            name = getattr(function, "__name__", "custom completions")
            raise self._llm_error(f"The custom completions function {name} failed: {failure}", failure)
