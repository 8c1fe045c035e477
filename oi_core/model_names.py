"""What a model's name alone says about it, in a module cheap enough for the launch path to import."""

from __future__ import annotations

#: litellm's prefixes for models served by Ollama (its native API and its chat API).
OLLAMA_PREFIXES = ("ollama/", "ollama_chat/")


def is_ollama_model(model: str) -> bool:
    return model.startswith(OLLAMA_PREFIXES)
