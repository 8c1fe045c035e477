"""API keys in the OS keyring, per provider; they never enter settings files, conversations or logs."""

from __future__ import annotations

import os

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


def lookup_api_key(model: str, api_base: str | None = None) -> str | None:
    """The environment wins; otherwise the keyring entry for the model's provider, if any."""
    provider = provider_for(model)
    env_name = PROVIDER_ENV.get(provider)
    if env_name and os.environ.get(env_name):
        return None  # litellm reads the environment itself
    try:
        import keyring

        return keyring.get_password(SERVICE, provider)
    except Exception:
        return None
