"""Expected failures, each carrying one sentence a user can act on."""

from __future__ import annotations


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
    return f"{model} at {_endpoint(api_base)} dropped the connection mid-reply: the partial reply was kept; send your message again."


def describe_llm_error(exc: BaseException, model: str, api_base: str | None) -> str:
    """Turn a litellm/httpx exception into one sentence naming the model, the endpoint and a next step."""
    where = f"{model} at {_endpoint(api_base)}"
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    text = str(exc).lower()
    if "midstream" in name.lower() or "stream ended" in text or "peer closed" in text or "incomplete chunked" in text:
        return dropped_mid_reply(model, api_base)
    if "connection error" in text or "connection refused" in text or "connect call failed" in text \
            or "all connection attempts failed" in text or "name or service not known" in text:
        return f"Could not connect to {where}: is the server running and the address right?"
    if status == 401 or name == "AuthenticationError":
        return f"{where} rejected the API key (401): check the key, or set a new one with `oi-tui --set-key`."
    if status == 403 or name == "PermissionDeniedError":
        return f"{where} refused the request (403): the key has no access to this model."
    if status == 404 or name == "NotFoundError":
        return f"{where} answered 404: the model name or the API base is wrong (try `--model` / `--api_base`)."
    if status == 429 or name == "RateLimitError":
        return f"{where} is rate-limiting requests (429): wait a moment, then send your message again."
    if name in ("Timeout", "APITimeoutError") or "timed out" in text or "timeout" in name.lower():
        return f"{where} did not answer in time: check that the server is up, then send your message again."
    if status is not None and int(status) >= 500 or name in ("InternalServerError", "ServiceUnavailableError"):
        return f"{where} failed with a server error ({status or 500}): try again, or switch model."
    if "json" in text or "decode" in text or "malformed" in text:
        return f"{where} sent a malformed streaming response: try again, or switch model."
    if "closed" in text or "incomplete" in text or "peer" in text or "disconnect" in text or "eof" in text:
        return dropped_mid_reply(model, api_base)
    if name == "BadRequestError" or status == 400:
        detail = str(exc).split("\n")[0][:200]
        return f"{where} rejected the request (400): {detail}"
    detail = str(exc).split("\n")[0][:200] or name
    return f"{where} failed: {detail}"
