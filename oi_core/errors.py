"""Expected failures, each carrying one sentence a user can act on."""

from __future__ import annotations

import json
import re


class OiError(Exception):
    """Base for failures the user should see as a message, never as a traceback."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LlmError(OiError):
    kind = "llm"


class BudgetExceeded(OiError):
    kind = "budget"


class SettingsError(OiError):
    kind = "settings"


def _endpoint(api_base: str | None) -> str:
    return api_base or "the provider's default endpoint"


def dropped_mid_reply(model: str, api_base: str | None) -> str:
    """The sentence for a stream that ended before the model finished its reply."""
    return f"{model} at {_endpoint(api_base)} dropped the connection before its reply was complete."


def not_a_stream(model: str, api_base: str | None, content_type: str) -> str:
    """The sentence for a 200 response that is a web page (a proxy, a login portal) rather than a model's stream."""
    kind = content_type.split(";")[0].strip() or "non-streaming"
    return (f"{model} at {_endpoint(api_base)} answered with a {kind} page instead of a reply stream: "
            "check the API base (a proxy or login page may be in the way).")


def empty_reply(model: str, api_base: str | None) -> str:
    """The sentence for a stream that ended properly but held no text and no code."""
    return (f"{model} at {_endpoint(api_base)} sent no reply: its response held no text and no code "
            "(an empty or unreadable stream). Try again, or switch model.")


class ProviderError(Exception):
    """The provider's failure as text with keys redacted: kept as the cause of an LlmError instead of the original."""


_PREFIXES = re.compile(r"^(?:litellm\.\w+:\s*|\w*(?:Error|Exception)\s*(?:-|:)\s*|Error code: \d+\s*-\s*)+")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what litellm wrapped (original_exception) and its causes, without repeats."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 8:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        original = getattr(item, "original_exception", None)
        todo += [original if isinstance(original, BaseException) else None, item.__cause__, item.__context__]
    return seen


def provider_message(exc: BaseException) -> str:
    """The provider's own words for a failure (the error body's message), without library prefixes."""
    for item in _chain(exc):
        body = getattr(item, "body", None)
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            message = inner.get("message") if isinstance(inner, dict) else None
            if isinstance(message, str) and message.strip():
                return _one_line(message)
    text = getattr(exc, "message", None)
    return _one_line(text if isinstance(text, str) and text else str(exc))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    text = text.split(" Original exception:")[0]
    text = _PREFIXES.sub("", text).strip()
    return text[:300] + ("…" if len(text) > 300 else "")


def _status(chain: list[BaseException]) -> int | None:
    for item in chain:
        status = getattr(item, "status_code", None)
        if isinstance(status, int) and "midstream" not in type(item).__name__.lower():
            return status
    return None


def describe_llm_error(exc: BaseException, model: str, api_base: str | None) -> str:
    """Turn a litellm/httpx exception into one sentence naming the model, the endpoint and what really happened."""
    where = f"{model} at {_endpoint(api_base)}"
    chain = _chain(exc)
    names = " ".join(type(item).__name__ for item in chain).lower()
    text = " ".join(str(item) for item in chain).lower()
    detail = provider_message(exc)
    status = _status(chain)
    midstream = "midstream" in names
    if any(isinstance(item, json.JSONDecodeError) for item in chain) and (midstream or status is None):
        bad = next(item for item in chain if isinstance(item, json.JSONDecodeError))
        return f"{where} sent a malformed event in its reply stream ({bad.msg} at character {bad.pos}): " \
               "try again, or switch model."
    if midstream or "stream ended" in text or "peer closed" in text or "incomplete chunked" in text:
        return dropped_mid_reply(model, api_base)
    if (status is None or "apiconnectionerror" in names) and ("connection error" in text or "connection refused" in text or "connect call failed" in text
                           or "all connection attempts failed" in text or "name or service not known" in text):
        return f"Could not connect to {where}: is the server running and the address right?"
    if status == 401 or "authenticationerror" in names:
        return f"{where} rejected the API key (401: {detail}): check the key, or set a new one with `oi-tui --set-key`."
    if status == 403 or "permissiondeniederror" in names:
        return f"{where} refused the request (403: {detail}): the key has no access to this model."
    if status == 404 or "notfounderror" in names:
        return f"{where} answered 404 ({detail}): the model name or the API base is wrong (try `--model` / `--api_base`)."
    if status == 429 or "ratelimiterror" in names:
        return f"{where} is rate-limiting requests (429: {detail}): wait a moment, then send your message again."
    if status in (None, 408) and ("timeout" in names or "timed out" in text):
        return f"{where} did not answer in time: check that the server is up, then send your message again."
    if status is not None and status >= 500:
        return f"{where} failed with a server error ({status}: {detail}): try again, or switch model."
    if status is not None:
        return f"{where} rejected the request ({status}): {detail}"
    if "closed" in text or "incomplete" in text or "peer" in text or "disconnect" in text or "eof" in text:
        return dropped_mid_reply(model, api_base)
    return f"{where} failed: {detail or type(exc).__name__}"
