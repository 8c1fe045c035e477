"""API keys in the OS keyring, per provider; they never enter settings files, conversations or logs."""

from __future__ import annotations

import os
import re
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
}


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


def store_api_key(provider: str, key: str) -> str:
    """Store a key for `provider` in the OS keyring; returns a sentence for the user (key masked).

    Without a usable keyring the key is kept for this session only, and the sentence says so.
    """
    provider = normalize_provider(provider)
    key = key.strip()
    if not key:
        raise OiError("The API key is empty: nothing was stored.")
    ok, detail = keyring_status()
    if ok:
        try:
            import keyring

            keyring.set_password(SERVICE, provider, key)
            _session_keys.pop(provider, None)
            return f"Stored the {provider} API key {mask(key)} in the system keyring."
        except Exception as exc:
            detail = f"the keyring refused it ({type(exc).__name__}: {exc})"
    _session_keys[provider] = key
    return (
        f"Could not save the {provider} API key {mask(key)}: {detail}. It is kept for this session only; "
        f"set {env_var_for(provider)} in your environment to keep it."
    )


def delete_api_key(provider: str) -> bool:
    """Forget a stored key (keyring and session); True if there was one."""
    provider = normalize_provider(provider)
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

        return keyring.get_password(SERVICE, provider)
    except Exception:
        return None


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
    """The environment wins; otherwise the stored key (keyring, or session-only) for the model's provider."""
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


def known_keys(interpreter: Any = None) -> list[str]:
    """Every key value this process knows (to redact them from text)."""
    keys = [k for k in _session_keys.values() if k]
    llm = getattr(interpreter, "llm", None)
    if llm is not None and getattr(llm, "api_key", None):
        keys.append(str(llm.api_key))
    for env_name in PROVIDER_ENV.values():
        if os.environ.get(env_name):
            keys.append(os.environ[env_name])
    return [k for k in keys if len(k) >= 6]


def redact(text: str, interpreter: Any = None, extra: list[str] | None = None) -> str:
    """Replace every known key in `text` by its masked form."""
    for key in sorted(set(known_keys(interpreter) + [k for k in extra or [] if k and len(k) >= 6]), key=len, reverse=True):
        text = text.replace(key, mask(key))
    return text
