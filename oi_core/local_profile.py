"""Saving a chosen local model as a profile (and as the default), with the text-mode templates local models need."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from .local_models import LocalChoice

#: How code output reaches a model that writes code blocks (text mode): as the user speaking, with a nudge
#: to either finish or write the next block — small local models drift without it.
TEXT_MODE_TEMPLATES: dict[str, Any] = {
    "code_output_sender": "user",
    "code_output_template": (
        "I ran your code. This is what it printed:\n{content}\n\n"
        "Tell me briefly what it means. If the task needs more, write the next code block; if it is done, say so."
    ),
    "empty_code_output_template": (
        "I ran your code and it printed nothing. If the task needs more, write the next code block; "
        "if it is done, say so."
    ),
}


def profile_name_for(choice: LocalChoice) -> str:
    """A file-safe profile name for a choice: "ollama-llama3.2-1b"."""
    slug = re.sub(r"[^a-z0-9.]+", "-", f"{choice.server.kind.id}-{choice.name}".lower()).strip("-.")
    return slug[:60] or "local"


def check_profile_name(name: str) -> str:
    """The name cleaned up; raises ValueError with a sentence when it cannot be a profile file name."""
    cleaned = name.strip()
    if cleaned.endswith((".yaml", ".yml")):
        cleaned = cleaned.rsplit(".", 1)[0]
    if not cleaned:
        raise ValueError("Type a name for the profile.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", cleaned):
        raise ValueError(f"{cleaned!r} cannot be a profile name: use letters, digits, '.', '-' and '_'.")
    return cleaned


def profile_values(choice: LocalChoice) -> dict[str, Any]:
    """Dotted settings a saved profile holds for this choice."""
    values = dict(choice.settings())
    values["llm.temperature"] = 0
    if not choice.supports_functions:
        values.update(TEXT_MODE_TEMPLATES)
    return values


def profile_text(choice: LocalChoice, when: datetime | None = None) -> str:
    """The YAML of a profile for `choice`, with a header saying where it came from."""
    import yaml

    nested: dict[str, Any] = {}
    for path, value in profile_values(choice).items():
        target = nested
        *groups, leaf = path.split(".")
        for group in groups:
            target = target.setdefault(group, {})
        target[leaf] = value
    stamp = (when or datetime.now()).strftime("%Y-%m-%d %H:%M")
    header = (
        f"# {choice.name} on {choice.server.label}, saved by oi-tui's local model picker on {stamp}.\n"
        "# Start the server first. Edit freely: every documented setting works here.\n"
    )
    notes = "".join(f"# {note}\n" for note in choice.notes)
    body = yaml.safe_dump(nested, sort_keys=False, allow_unicode=True, width=100)
    return f"{header}{notes}\n{body}\nversion: 0.2.5\n"


def save_profile(choice: LocalChoice, name: str, *, make_default: bool = False) -> tuple[Path, str]:
    """Write the profile into the user's folder (and the model into the default profile); returns (path, sentence)."""
    from .conversations import atomic_write
    from .profiles import profile_dir

    name = check_profile_name(name)
    path = profile_dir() / f"{name}.yaml"
    atomic_write(path, profile_text(choice).encode("utf-8"))
    message = f"Saved profile {name} ({path}); load it with `oi-tui -p {name}`."
    if make_default:
        from .profiles import set_profile_values

        default_path = set_profile_values(None, profile_values(choice))
        message += f" It is also the default now ({default_path})."
    return path, message


__all__ = ["TEXT_MODE_TEMPLATES", "check_profile_name", "profile_name_for", "profile_text", "profile_values", "save_profile"]
