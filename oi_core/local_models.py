"""Local model servers: which are running, what models they hold, and the settings a chosen model needs.

Known servers are Ollama (``OLLAMA_HOST`` or 127.0.0.1:11434, native API), LM Studio (1234), Jan (1337) and
llamafile / llama.cpp's server (8080), the last three speaking the OpenAI API under ``/v1``; any other URL
the user types is probed the same way. Probes run concurrently with short timeouts and never raise: a
server that is down comes back as a `ServerStatus` with one sentence saying so and the command that starts it.

Everything here is async (httpx) and ignores proxy variables: these are requests to the user's own machine
or network, which a corporate proxy must not intercept.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import tls
from .errors import OiError
from .model_names import is_ollama_model

#: The context window used when a server does not say how large a model's is.
DEFAULT_CONTEXT_WINDOW = 8000
#: Larger windows cost memory on the user's machine (Ollama allocates what it is asked for), so a model's
#: advertised maximum is used only up to this size unless the model's own settings ask for more.
CONTEXT_WINDOW_CEILING = 16384
#: The share of the context window a reply may use (as the reference does for Ollama models).
MAX_TOKENS_SHARE = 0.2
PROBE_TIMEOUT = 1.5
DETAIL_TIMEOUT = 5.0


class LocalModelError(OiError):
    """A local server could not do what was asked; the message is one sentence for the user."""

    kind = "local_model"


@dataclass(frozen=True)
class ServerKind:
    """A family of local server: where it listens by default and how to start it."""

    id: str
    label: str
    api: str  # "ollama" (native API at the root) or "openai" (OpenAI-compatible API under the base URL)
    port: int | None
    start_hint: str  # the one thing to do to start it
    model_prefix: str  # litellm provider prefix for its models


OLLAMA = ServerKind("ollama", "Ollama", "ollama", 11434, "run `ollama serve` (or open the Ollama app)", "ollama_chat/")
LM_STUDIO = ServerKind(
    "lm_studio", "LM Studio", "openai", 1234,
    "in LM Studio's Developer tab switch the server on (or run `lms server start`)", "openai/",
)
JAN = ServerKind("jan", "Jan", "openai", 1337, "in Jan's Settings open Local API Server and start it", "openai/")
LLAMAFILE = ServerKind(
    "llamafile", "llamafile / llama.cpp", "openai", 8080,
    "run your model with `./MODEL.llamafile --server` or `llama-server -m MODEL.gguf`", "openai/",
)
CUSTOM = ServerKind("custom", "Server", "openai", None, "start the server, then Retry", "openai/")
KNOWN_KINDS = (OLLAMA, LM_STUDIO, JAN, LLAMAFILE)


@dataclass(frozen=True)
class LocalServer:
    """One place a server may listen: `url` is the Ollama root, or the OpenAI-compatible base (…/v1)."""

    kind: ServerKind
    url: str

    @property
    def address(self) -> str:
        """host:port, for labels."""
        parts = urlsplit(self.url)
        return parts.netloc or self.url

    @property
    def label(self) -> str:
        return f"{self.kind.label} ({self.address})"

    @property
    def root(self) -> str:
        """The URL without the API path (…/v1), where server-specific endpoints live."""
        return re.sub(r"/v1/?$", "", self.url.rstrip("/"))


@dataclass(frozen=True)
class LocalModel:
    """A model a server offers, with what the listing says about it."""

    name: str
    size: int | None = None  # bytes on disk
    detail: str = ""  # "llama 8.0B Q4_K_M"
    context_length: int | None = None
    tools: bool | None = None


@dataclass(frozen=True)
class ServerStatus:
    """What a probe found: up or not, the models, and a sentence when something is wrong."""

    server: LocalServer
    up: bool
    models: tuple[LocalModel, ...] = ()
    problem: str = ""

    @property
    def summary(self) -> str:
        """One line: "3 models", "running, no models", or the problem."""
        if not self.up:
            if self.problem == "nothing answers":
                return "off"
            return "needs a key" if "API key" in self.problem else "not answering"
        if not self.models:
            return "running, no models yet"
        return f"{len(self.models)} model{'s' if len(self.models) != 1 else ''}"


@dataclass(frozen=True)
class LocalChoice:
    """Everything the interpreter needs to talk to one local model."""

    server: LocalServer
    name: str  # as the server lists it
    model: str  # litellm model string
    api_base: str
    supports_functions: bool
    context_window: int
    max_tokens: int
    reported_context: int | None = None
    supports_vision: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def settings(self) -> dict[str, Any]:
        """Dotted setting path -> value, as a profile or `apply_setting` takes them."""
        return {
            "llm.model": self.model,
            "llm.api_base": self.api_base,
            "llm.supports_functions": self.supports_functions,
            "llm.supports_vision": self.supports_vision,
            "llm.context_window": self.context_window,
            "llm.max_tokens": self.max_tokens,
            "offline": True,
        }

    @property
    def description(self) -> str:
        """One line for the user: where, which model, and how it will be used."""
        mode = "tool calls" if self.supports_functions else "code blocks (text mode)"
        return (
            f"{self.name} on {self.server.label} · context {self.context_window:,} tokens, "
            f"replies up to {self.max_tokens:,} · {mode}"
        )


# ---------------------------------------------------------------- addresses


def ollama_host(environ: Mapping[str, str] | None = None) -> str:
    """The Ollama server's URL from OLLAMA_HOST, read the way Ollama reads it ("host", "host:port", "http://…")."""
    raw = (environ if environ is not None else os.environ).get("OLLAMA_HOST", "").strip()
    scheme, port = "http", "11434"
    if "://" in raw:
        scheme, raw = raw.split("://", 1)
        port = {"http": "80", "https": "443"}.get(scheme, port)
    hostport, _, path = raw.partition("/")
    host = hostport
    match = re.fullmatch(r"\[(.+)\](?::(\d+))?|([^:]*)(?::(\d+))?", hostport)
    if match:
        host = match.group(1) or match.group(3) or ""
        port = match.group(2) or match.group(4) or port
    if not host or host in ("0.0.0.0", "::"):  # a server address meaning "all interfaces": reach it locally
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"{scheme}://{host}:{port}"
    return f"{url}/{path.strip('/')}" if path.strip("/") else url


def known_servers(environ: Mapping[str, str] | None = None) -> list[LocalServer]:
    """The servers probed by default, in display order."""
    servers = [LocalServer(OLLAMA, ollama_host(environ))]
    for kind in (LM_STUDIO, JAN, LLAMAFILE):
        servers.append(LocalServer(kind, f"http://127.0.0.1:{kind.port}/v1"))
    return servers


def normalize_url(text: str) -> str:
    """A URL typed by the user, with a scheme and without a trailing slash; raises LocalModelError if unusable."""
    url = text.strip()
    if not url.partition("://")[2 if "://" in url else 0].strip("/"):
        raise LocalModelError("Type the server's address, e.g. http://192.168.1.20:8000/v1.")
    url = url.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocalModelError(f"{text.strip()!r} is not a server address: use http://HOST:PORT or http://HOST:PORT/v1.")
    try:
        parts.port
    except ValueError:
        raise LocalModelError(f"{text.strip()!r} has an invalid port number.") from None
    return url


def ollama_base(api_base: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The Ollama server for a model: `api_base` (its native API lives at the root, not under /v1), else OLLAMA_HOST."""
    if api_base:
        return re.sub(r"/v1/?$", "", api_base.strip().rstrip("/"))
    return ollama_host(environ)


def ollama_name(model: str) -> str:
    """"ollama/llama3.1" -> "llama3.1"."""
    return model.split("/", 1)[1] if is_ollama_model(model) else model


def share_of(window: int) -> int:
    """The reply budget for a context window."""
    return max(64, int(window * MAX_TOKENS_SHARE))


# ---------------------------------------------------------------- HTTP


async def http_client(timeout: float | None, connect: float = PROBE_TIMEOUT) -> Any:
    """An httpx client for the user's own servers: no proxy from the environment, the shared TLS context.

    The certificate store (~80 ms of CPU) and httpx are loaded in a thread so a UI loop never waits for them.
    """
    verify = await asyncio.to_thread(tls.context)  # cached after the first call
    import httpx

    limit = httpx.Timeout(timeout, connect=connect if timeout is None else min(timeout, connect))
    return httpx.AsyncClient(timeout=limit, trust_env=False, verify=verify)


async def _client(timeout: float) -> Any:
    return await http_client(timeout)


def _describe(exc: BaseException, url: str, timeout: float) -> str:
    """What went wrong with a request to a server, without its address (callers name the server)."""
    import httpx

    path = urlsplit(url).path
    if isinstance(exc, httpx.ConnectError):
        return "nothing answers"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.HTTPStatusError):
        if exc.response.status_code in (401, 403):
            return f"it asks for an API key (HTTP {exc.response.status_code}): pass the server's key with --api_key"
        return f"HTTP {exc.response.status_code} from {path}"
    if isinstance(exc, ValueError):
        return f"no model list at {path} (is it the right kind of server?)"
    return f"{type(exc).__name__} from {path}"


async def _get_json(client: Any, url: str) -> Any:
    response = await client.get(url)
    response.raise_for_status()
    return response.json()


# ---------------------------------------------------------------- probing


def _ollama_models(body: Any) -> tuple[LocalModel, ...]:
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise ValueError("not an Ollama model list")
    models = []
    for entry in body["models"]:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name") or entry.get("model")
        if not isinstance(name, str) or not name:
            continue
        details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
        detail = " ".join(str(details[k]) for k in ("parameter_size", "quantization_level") if details.get(k))
        size = entry.get("size")
        models.append(LocalModel(name, int(size) if isinstance(size, (int, float)) else None, detail))
    return tuple(sorted(models, key=lambda m: m.name.lower()))


#: Where OpenAI-compatible servers put a model's context size in their model listings.
_CONTEXT_KEYS = ("loaded_context_length", "context_length", "max_context_length", "max_model_len", "context_window",
                 "n_ctx", "ctx_len", "n_ctx_train")


def _find_context(entry: Any, depth: int = 0) -> int | None:
    """The first context-size field in a model entry (nested metadata included)."""
    if not isinstance(entry, dict) or depth > 2:
        return None
    for key in _CONTEXT_KEYS:
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
    for value in entry.values():
        found = _find_context(value, depth + 1)
        if found:
            return found
    return None


def _capability(entry: Any, *names: str) -> bool | None:
    """Whether a model entry's `capabilities` list names one of `names`; None when there is no such list."""
    capabilities = entry.get("capabilities") if isinstance(entry, dict) else None
    if isinstance(capabilities, list):
        return any(str(c).lower() in names for c in capabilities)
    return None


def _tool_flag(entry: Any) -> bool | None:
    return _capability(entry, "tools", "tool_use", "function_calling")


def _vision_flag(entry: Any) -> bool:
    """Ollama lists "vision"; LM Studio marks vision models with type "vlm"."""
    return bool(_capability(entry, "vision")) or (isinstance(entry, dict) and entry.get("type") == "vlm")


def _openai_models(body: Any) -> tuple[LocalModel, ...]:
    listed = body.get("data") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise ValueError("not an OpenAI model list")
    models = []
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            models.append(LocalModel(entry["id"], context_length=_find_context(entry), tools=_tool_flag(entry)))
    return tuple(models)


async def probe(server: LocalServer, timeout: float = PROBE_TIMEOUT) -> ServerStatus:
    """Ask one server for its models; never raises."""
    url = f"{server.url}/api/tags" if server.kind.api == "ollama" else f"{server.url}/models"
    try:
        async with await _client(timeout) as client:
            body = await _get_json(client, url)
        models = _ollama_models(body) if server.kind.api == "ollama" else _openai_models(body)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any failure is a status, not an error
        return ServerStatus(server, False, problem=_describe(exc, url, timeout))
    return ServerStatus(server, True, models)


async def probe_url(text: str, timeout: float = PROBE_TIMEOUT) -> ServerStatus:
    """Probe an address the user typed: an OpenAI-compatible base (…/v1), or an Ollama root, whichever answers."""
    url = normalize_url(text)
    if url.endswith("/v1"):
        return await probe(LocalServer(CUSTOM, url), timeout)
    ollama = await probe(LocalServer(OLLAMA, url), timeout)
    if ollama.up:
        return ollama
    if ollama.problem == "nothing answers":
        return ServerStatus(LocalServer(CUSTOM, url), False, problem=ollama.problem)
    for candidate in (f"{url}/v1", url):
        status = await probe(LocalServer(CUSTOM, candidate), timeout)
        if status.up:
            return status
    return ServerStatus(LocalServer(CUSTOM, url), False,
                        problem="it answers, but neither as Ollama nor as an OpenAI-compatible server")


async def probe_all(
    extra_urls: tuple[str, ...] | list[str] = (),
    timeout: float = PROBE_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    servers: Sequence[LocalServer] | None = None,
) -> list[ServerStatus]:
    """Probe `servers` (the known ones by default) and any typed URLs at once; results in display order."""
    known = list(servers) if servers is not None else known_servers(environ)
    tasks = [probe(server, timeout) for server in known]
    seen = {server.url for server in known}
    extras = []
    for text in extra_urls:
        try:
            url = normalize_url(text)
        except LocalModelError:
            continue
        if url not in seen and url.removesuffix("/v1") not in seen:
            seen.add(url)
            extras.append(url)
    tasks.extend(probe_url(url, timeout) for url in extras)
    return list(await asyncio.gather(*tasks))


# ---------------------------------------------------------------- resolving a model


def _window(reported: int | None, explicit: int | None) -> tuple[int, tuple[str, ...]]:
    """The context window to use, and a note on where it came from."""
    if explicit:
        return explicit, (f"context {explicit:,} set in the model's parameters",)
    if not reported:
        return DEFAULT_CONTEXT_WINDOW, (f"the server does not say the context size: using {DEFAULT_CONTEXT_WINDOW:,}",)
    if reported > CONTEXT_WINDOW_CEILING:
        return CONTEXT_WINDOW_CEILING, (
            f"the model accepts {reported:,} tokens; using {CONTEXT_WINDOW_CEILING:,} to keep memory use modest "
            "(raise it with --context_window)",
        )
    return reported, (f"context {reported:,} as the server reports",)


def _num_ctx(parameters: Any) -> int | None:
    """`num_ctx N` from an Ollama model's parameter text, if its Modelfile sets one."""
    if not isinstance(parameters, str):
        return None
    match = re.search(r"^\s*num_ctx\s+(\d+)\s*$", parameters, re.MULTILINE)
    return int(match.group(1)) if match else None


async def ollama_show(host: str, name: str, timeout: float = DETAIL_TIMEOUT) -> dict[str, Any]:
    """Ollama's /api/show for one model (raises LocalModelError)."""
    url = f"{host}/api/show"
    try:
        async with await _client(timeout) as client:
            response = await client.post(url, json={"model": name, "name": name})
            if response.status_code == 404:
                raise LocalModelError(f"{name} is not on the Ollama server at {urlsplit(host).netloc}.")
            response.raise_for_status()
            body = response.json()
    except LocalModelError:
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        where = urlsplit(host).netloc
        raise LocalModelError(f"Could not read {name}'s details from {where}: {_describe(exc, url, timeout)}.") from exc
    return body if isinstance(body, dict) else {}


def choice_from_show(server: LocalServer, name: str, show: Mapping[str, Any]) -> LocalChoice:
    """Settings for an Ollama model from its /api/show answer."""
    info = show.get("model_info") if isinstance(show.get("model_info"), dict) else {}
    reported = next(
        (int(v) for k, v in info.items() if k.endswith(".context_length") and isinstance(v, (int, float))), None
    )
    window, notes = _window(reported, _num_ctx(show.get("parameters")))
    tools = _tool_flag(show)
    return LocalChoice(
        server=server,
        name=name,
        model=OLLAMA.model_prefix + name,
        api_base=server.url,
        supports_functions=bool(tools),
        context_window=window,
        max_tokens=share_of(window),
        reported_context=reported,
        notes=notes,
        supports_vision=_vision_flag(show),
    )


async def _openai_details(server: LocalServer, name: str, timeout: float) -> dict[str, Any]:
    """Extra metadata some OpenAI-compatible servers publish beside /v1/models (LM Studio, llama.cpp)."""
    if server.kind is LM_STUDIO:
        url = f"{server.root}/api/v0/models/{name}"
    elif server.kind is LLAMAFILE:
        url = f"{server.root}/props"
    else:
        return {}
    try:
        async with await _client(timeout) as client:
            body = await _get_json(client, url)
    except asyncio.CancelledError:
        raise
    except Exception:  # optional metadata: the listing is enough without it
        return {}
    return body if isinstance(body, dict) else {}


async def resolve(status: ServerStatus | LocalServer, name: str, timeout: float = DETAIL_TIMEOUT) -> LocalChoice:
    """The settings for model `name` on a server: asks the server what it knows about the model."""
    server = status.server if isinstance(status, ServerStatus) else status
    listed = next((m for m in status.models if m.name == name), None) if isinstance(status, ServerStatus) else None
    if server.kind.api == "ollama":
        return choice_from_show(server, name, await ollama_show(server.url, name, timeout))
    details = await _openai_details(server, name, timeout)
    reported = _find_context(details) or (listed.context_length if listed else None)
    tools = _tool_flag(details)
    if tools is None and listed is not None:
        tools = listed.tools
    window, notes = _window(reported, None)
    return LocalChoice(
        server=server,
        name=name,
        model=server.kind.model_prefix + name,
        api_base=server.url,
        supports_functions=bool(tools),
        context_window=window,
        max_tokens=share_of(window),
        reported_context=reported,
        notes=notes,
        supports_vision=_vision_flag(details),
    )


# ---------------------------------------------------------------- requests (used by oi_core.llm)


def request_params(model: str, api_base: str | None, context_window: int | None) -> dict[str, Any] | None:
    """How to reach an Ollama model: its chat route on the host that was checked, with the context size to use.

    None for any other model. `ollama/NAME` and `ollama_chat/NAME` both go to /api/chat (the model's chat
    template applies) on `api_base`, else OLLAMA_HOST, else localhost; `num_ctx` makes Ollama use the
    window the conversation is trimmed to. Ollama needs no API key.
    """
    if not is_ollama_model(model):
        return None
    params: dict[str, Any] = {"model": OLLAMA.model_prefix + ollama_name(model), "api_base": ollama_base(api_base)}
    if context_window:
        params["num_ctx"] = int(context_window)
    return params


def register_free_model(litellm: Any, model: str, context_window: int | None) -> None:
    """Enter a routed Ollama model in litellm's price list (`litellm.model_cost`): free, with its window.

    Without an entry, litellm's own logging looks the model up after each reply by asking the *default*
    Ollama host (OLLAMA_API_BASE or localhost): a request to the wrong machine, and network use in offline
    mode. (`litellm.register_model` cannot be used: it makes that same lookup first.)
    """
    window = int(context_window or DEFAULT_CONTEXT_WINDOW)
    litellm.model_cost.setdefault(model, {
        "litellm_provider": model.split("/", 1)[0], "mode": "chat", "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0, "max_input_tokens": window, "max_tokens": window,
    })


__all__ = [
    "CONTEXT_WINDOW_CEILING",
    "DEFAULT_CONTEXT_WINDOW",
    "JAN",
    "KNOWN_KINDS",
    "LLAMAFILE",
    "LM_STUDIO",
    "LocalChoice",
    "LocalModel",
    "LocalModelError",
    "LocalServer",
    "OLLAMA",
    "ServerKind",
    "ServerStatus",
    "choice_from_show",
    "known_servers",
    "normalize_url",
    "ollama_base",
    "ollama_host",
    "ollama_show",
    "probe",
    "probe_all",
    "probe_url",
    "register_free_model",
    "request_params",
    "resolve",
]
