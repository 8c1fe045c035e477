"""API keys in the OS keyring, per provider; they never enter settings files, conversations or logs."""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from .errors import OiError

SERVICE = "oi-tui"

PROVIDER_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "huggingface": "HUGGINGFACE_API_KEY",
    "deepinfra": "DEEPINFRA_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
}

#: What to do when no keyring backend works (one sentence, shown by --set-key and the setup screen).
KEYRING_HELP = (
    "install and unlock a keyring (GNOME Keyring or KWallet through the Secret Service, or the macOS Keychain), "
    "or run `pip install keyrings.alt` for a file-based one"
)


def provider_for(model: str) -> str:
    """The provider a model string talks to ("anthropic/claude-3" -> "anthropic", "gpt-4o" -> "openai")."""
    if "/" in model:
        return model.split("/", 1)[0].lower()
    lowered = model.lower()
    if lowered.startswith("claude"):
        return "anthropic"
    if lowered.startswith(("mistral", "codestral")):
        return "mistral"
    if lowered.startswith("gemini"):
        return "gemini"
    return "openai"


#: Keys kept in memory only, because no keyring backend was available when they were stored.
_session_keys: dict[str, str] = {}


class KeyringUnavailable(OiError):
    kind = "keyring"


def normalize_provider(provider: str) -> str:
    name = provider.strip().lower()
    if not name or not re.fullmatch(r"[a-z0-9_.\-]+", name):
        raise OiError(f"{provider!r} is not a provider name (examples: {', '.join(sorted(PROVIDER_ENV))}).")
    return name


def known_providers() -> list[str]:
    """Providers whose keys oi-tui knows where to find (the keyring entry name and the environment variable)."""
    return sorted(PROVIDER_ENV)


def check_provider(provider: str) -> str:
    """The normalised provider name, or OiError naming the known ones (and the closest, for a typo)."""
    import difflib

    name = provider.strip().lower()
    if name in PROVIDER_ENV:
        return name
    close = difflib.get_close_matches(name, PROVIDER_ENV, n=1, cutoff=0.6)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise OiError(f"Unknown provider {provider.strip()!r}. {hint}Known providers: {', '.join(known_providers())}.")


def server_entry(api_base: str) -> str:
    """The keyring entry name for a key that belongs to one server (a custom or local endpoint)."""
    return "server:" + api_base.strip().rstrip("/").lower()


def env_var_for(provider: str) -> str:
    """The environment variable litellm reads for a provider (OPENAI_API_KEY ...)."""
    name = provider.strip().lower()
    return PROVIDER_ENV.get(name) or f"{name.upper().replace('-', '_').replace('.', '_')}_API_KEY"


def keyring_status() -> tuple[bool, str]:
    """(usable, description): whether an OS keyring backend is available, and which one."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception as exc:  # keyring not installed or broken
        return False, f"the keyring package cannot be imported ({exc})"
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return False, f"no keyring backend could be loaded ({exc})"
    if isinstance(backend, fail.Keyring) or type(backend).__module__.startswith("keyring.backends.null"):
        return False, "no keyring backend is installed or running (e.g. no Secret Service / KWallet on this Linux)"
    if getattr(backend, "backends", None) == []:
        return False, "no keyring backend is installed or running"
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    return True, name


def keyring_available() -> bool:
    return keyring_status()[0]


def store_api_key(provider: str, key: str, *, session_fallback: bool = True) -> str:
    """Store a key for `provider` in the OS keyring; returns a sentence for the user (key masked).

    Without a usable keyring the key is kept for this session only, and the sentence says so; with
    ``session_fallback=False`` that raises KeyringUnavailable instead (nothing is kept).
    """
    provider = normalize_provider(provider)
    return _store(provider, key, f"the {provider} API key", env_var_for(provider), session_fallback)


def store_server_key(api_base: str, key: str, *, session_fallback: bool = True) -> str:
    """Store the key of one server (by its URL) in the keyring; used for custom and local endpoints."""
    return _store(server_entry(api_base), key, f"the API key for {api_base.rstrip('/')}", None, session_fallback)


def _store(entry: str, key: str, what: str, env_name: str | None, session_fallback: bool) -> str:
    key = key.strip()
    if not key:
        raise OiError("The API key is empty: nothing was stored.")
    remember_secret(key)
    ok, detail = keyring_status()
    if ok:
        try:
            import keyring

            keyring.set_password(SERVICE, entry, key)
            if keyring.get_password(SERVICE, entry) != key:
                raise RuntimeError("it did not keep the key")
            _session_keys.pop(entry, None)
            return f"Stored {what} {mask(key)} in the system keyring."
        except Exception as exc:
            detail = f"the keyring refused it ({type(exc).__name__}: {exc})"
    if not session_fallback:
        instead = f" (or set {env_name} in your environment instead)" if env_name else ""
        raise KeyringUnavailable(f"Could not store {what}: {detail}; to keep keys, {KEYRING_HELP}{instead}.")
    _session_keys[entry] = key
    keep = f"; set {env_name} in your environment to keep it" if env_name else f"; to keep it, {KEYRING_HELP}"
    return f"Could not save {what} {mask(key)}: {detail}. It is kept for this session only{keep}."


def delete_api_key(provider: str) -> bool:
    """Forget a stored key (keyring and session); True if there was one."""
    provider = provider if provider.startswith("server:") else normalize_provider(provider)
    removed = _session_keys.pop(provider, None) is not None
    if keyring_available():
        try:
            import keyring

            keyring.delete_password(SERVICE, provider)
            removed = True
        except Exception:
            pass
    return removed


def stored_api_key(provider: str) -> str | None:
    """The key stored for a provider (session first, then keyring), ignoring the environment."""
    provider = provider.strip().lower()
    if provider in _session_keys:
        return _session_keys[provider]
    if not keyring_available():
        return None
    try:
        import keyring

        key = keyring.get_password(SERVICE, provider)
    except Exception:
        return None
    remember_secret(key)  # a key we hold is redacted from everything we print or store
    return key


def key_source(model: str, explicit: str | None = None) -> str:
    """Where the key for a model comes from: "setting", "environment (NAME)", "keyring", "session" or "none"."""
    provider = provider_for(model)
    if explicit:
        return "setting"
    env_name = env_var_for(provider)
    if os.environ.get(env_name):
        return f"environment ({env_name})"
    if provider in _session_keys:
        return "session"
    if stored_api_key(provider):
        return "keyring"
    return "none"


def lookup_api_key(model: str, api_base: str | None = None) -> str | None:
    """A key stored for this server (api_base) first; then the environment wins; then the provider's stored key."""
    if api_base:
        server_key = stored_api_key(server_entry(api_base))
        if server_key:
            return server_key
    provider = provider_for(model)
    env_name = env_var_for(provider)
    if os.environ.get(env_name):
        return None  # litellm reads the environment itself
    return stored_api_key(provider)


def mask(key: str | None) -> str:
    """Show enough of a key to recognise it, never enough to use it: "sk-…wxyz"."""
    if not key:
        return "(none)"
    key = str(key)
    if len(key) < 12:
        return "•" * 6
    return f"{key[:3]}…{key[-4:]}"


# ---------------------------------------------------------------- redaction

REDACTED = "[redacted]"
MIN_HELD_SECRET = 6  # a key we were given (setting, keyring, session) is redacted from this length on
MIN_ENV_SECRET = 8  # a value found in a key-like environment variable, from this length on

#: Environment variable names that hold credentials: OPENAI_API_KEY, GITHUB_TOKEN, DB_PASSWORD, MY_KEY ...
_SECRET_ENV_NAME = re.compile(
    r"(?:api_?key|secret|token|passw(?:or)?d|credential|(?:^|_)auth(?:_|$)|(?:^|_)(?:key|pat|pwd)(?:_|$))", re.I
)
#: ... but not these, whose values are paths, addresses or switches.
_NOT_SECRET_ENV_NAME = re.compile(r"(?:^(?:OLD)?PWD$|_(?:SOCK|PATH|FILE|DIR|URL|HOST|PORT|BACKEND)$)", re.I)
#: Field names whose values are credentials wherever they appear in stored data.
_SECRET_FIELD = re.compile(
    r"^(?:.*[_-])?(?:api[_-]?key|apikey|secret|password|passwd|auth[_-]?token|access[_-]?token|authorization)$", re.I
)
#: Well-known key shapes, redacted even when we do not hold the key.
_SHAPES = re.compile(
    r"\b(?:sk-(?:ant-|proj-|or-v1-)?[A-Za-z0-9_\-]{20,}|gsk_[A-Za-z0-9]{20,}|AIza[0-9A-Za-z_\-]{35}"
    r"|xai-[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"
)
_SHAPE_HINTS = ("sk-", "gsk_", "AIza", "xai-", "hf_", "gh", "github_pat_")
#: A credential after an Authorization / x-api-key header name (an error echoing the request), however it is quoted.
_HEADERS = re.compile(
    r"""(authorization|api-key)(["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token)\s+)?)([A-Za-z0-9._~+/=\-]{8,})""", re.I
)

#: Keys read from or stored in the keyring by this process, and secrets handed to remember_secret().
_remembered: set[str] = set()
_watched: "weakref.WeakSet[Any]" = weakref.WeakSet()
_cache_lock = threading.Lock()
_cached: tuple[frozenset[str], "Redactor"] | None = None


def remember_secret(value: str | None) -> None:
    """Redact `value` from everything printed or stored by this process from now on."""
    if isinstance(value, str) and len(value.strip()) >= MIN_HELD_SECRET:
        _remembered.add(value.strip())


def watch(holder: Any) -> None:
    """Track an object (weakly) whose `api_key` / `api_secret` attribute holds a key, e.g. an interpreter's Llm."""
    try:
        _watched.add(holder)
    except TypeError:  # not weak-referenceable: read it now instead
        for name in ("api_key", "api_secret"):
            remember_secret(getattr(holder, name, None))


_env_names: tuple[str, tuple[str, ...]] = ("", ())


def _secret_env_names() -> tuple[str, ...]:
    """Names of key-like environment variables (recomputed only when the set of names changes)."""
    global _env_names
    joined = "\n".join(os.environ)
    if joined != _env_names[0]:
        names = tuple(
            name for name in os.environ if _SECRET_ENV_NAME.search(name) and not _NOT_SECRET_ENV_NAME.search(name)
        )
        _env_names = (joined, names)
    return _env_names[1]


def _env_secrets() -> list[str]:
    found = []
    for name in _secret_env_names():
        value = os.environ.get(name) or ""
        if len(value) >= MIN_ENV_SECRET and not value.startswith(("/", "~")):
            found.append(value)
    return found


def _holder_secrets(holder: Any) -> list[str]:
    found = []
    for name in ("api_key", "api_secret"):
        value = getattr(holder, name, None)
        if isinstance(value, str) and len(value) >= MIN_HELD_SECRET:
            found.append(value)
    return found


def known_keys(interpreter: Any = None) -> list[str]:
    """Every secret value this process knows of (to redact them from text)."""
    keys: set[str] = {k for k in _session_keys.values() if k and len(k) >= MIN_HELD_SECRET}
    keys.update(_remembered)
    llm = getattr(interpreter, "llm", None)
    if llm is not None:
        keys.update(_holder_secrets(llm))
    for holder in list(_watched):
        keys.update(_holder_secrets(holder))
    keys.update(_env_secrets())
    return sorted(keys, key=len, reverse=True)


def _replacement(secret: str) -> str:
    return mask(secret) if len(secret) >= 24 else REDACTED


class Redactor:
    """Redacts one fixed set of secrets (plus the well-known shapes); build it once for a batch of texts."""

    def __init__(self, secrets: frozenset[str]) -> None:
        self.secrets = secrets
        ordered = sorted(secrets, key=len, reverse=True)  # longest first: a key containing another wins
        self._known = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def text(self, text: str) -> str:
        """`text` with every secret replaced by a masked form."""
        if not text:
            return text
        if self._known is not None:
            text = self._known.sub(lambda m: _replacement(m.group(0)), text)
        if any(hint in text for hint in _SHAPE_HINTS):
            text = _SHAPES.sub(lambda m: _replacement(m.group(0)), text)
        lowered = text.lower()
        if "authorization" in lowered or "api-key" in lowered:
            text = _HEADERS.sub(lambda m: m.group(1) + m.group(2) + _replacement(m.group(3)), text)
        return text

    def data(self, value: Any) -> Any:
        """A redacted copy of JSON-like data; credential-named fields become [redacted]."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and _SECRET_FIELD.match(key) and item not in (None, ""):
                    out[key] = REDACTED
                else:
                    out[key] = self.data(item)
            return out
        if isinstance(value, (list, tuple)):
            return [self.data(item) for item in value]
        return value

    def message(self, message: Any) -> Any:
        """An LMC message redacted; an image's payload is kept byte for byte (base64 can look like anything)."""
        if isinstance(message, dict) and message.get("type") == "image" and isinstance(message.get("content"), str):
            out = self.data({k: v for k, v in message.items() if k != "content"})
            out["content"] = message["content"]
            return out
        return self.data(message)


def redactor(interpreter: Any = None, extra: Iterable[str] = ()) -> Redactor:
    """A Redactor for every secret known now (cached until that set changes)."""
    global _cached
    secrets = set(known_keys(interpreter))
    secrets.update(s for s in extra if isinstance(s, str) and len(s) >= MIN_HELD_SECRET)
    key = frozenset(secrets)
    with _cache_lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        built = Redactor(key)
        _cached = (key, built)
        return built


def redact(text: str, interpreter: Any = None, extra: Iterable[str] = ()) -> str:
    """`text` with every secret we know of replaced by a masked form (see Redactor)."""
    return redactor(interpreter, extra).text(str(text))


def redact_data(value: Any, interpreter: Any = None, extra: Iterable[str] = ()) -> Any:
    """A redacted deep copy of JSON-like data (strings redacted, credential-named fields blanked)."""
    return redactor(interpreter, extra).data(value)
