"""The user's key overrides: `<user config>/oi-tui/keymap.yaml`, mapping binding ids to keys.

    # keymap.yaml
    send: ctrl+j
    stop: escape,ctrl+c        # several keys: comma-separated ...
    new_conversation: [ctrl+n, f2]   # ... or a list

The app applies the result with `app.set_keymap(keymap)` (or `app.update_keymap(keymap)`). Mistakes
are reported as messages, never raised: a bad entry is dropped and the rest still applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "oi-tui"

_BINDING_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_KEY = re.compile(r"^[A-Za-z0-9_+\-]+$|^[^\s,]$")
"""A Textual key name ("ctrl+j", "f2", "escape", "question_mark") or a single printable character."""


def keymap_path() -> Path:
    """Where the user's keymap lives."""
    return platformdirs.user_config_path(APP_NAME) / "keymap.yaml"


def _keys(value: Any) -> list[str] | None:
    """The key names in one entry, or None when the value has the wrong shape."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [part.strip() for item in value for part in item.split(",")]
    else:
        return None
    return [part for part in parts if part]


def parse_keymap(data: Any, source: str = "keymap.yaml", known_ids: Iterable[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Validate parsed YAML into a Textual keymap (binding id -> comma-separated keys) and problems."""
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"{source}: expected a mapping of binding ids to keys (e.g. `send: ctrl+j`)"]
    known = set(known_ids) if known_ids is not None else None
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in data.items():
        if not isinstance(binding_id, str) or not _BINDING_ID.match(binding_id):
            problems.append(f"{source}: {binding_id!r} is not a binding id; entry ignored")
            continue
        if known is not None and binding_id not in known:
            problems.append(f"{source}: no binding has the id {binding_id!r}; entry ignored")
            continue
        keys = _keys(value)
        if keys is None:
            problems.append(f"{source}: {binding_id}: expected a key such as `ctrl+j` or a list of keys; entry ignored")
            continue
        if not keys:
            problems.append(f"{source}: {binding_id}: no key given; entry ignored")
            continue
        bad = [key for key in keys if not _KEY.match(key)]
        if bad:
            problems.append(f"{source}: {binding_id}: {', '.join(map(repr, bad))} is not a key name; entry ignored")
            continue
        keymap[binding_id] = ",".join(keys)
    return keymap, problems


def load_keymap(path: Path | None = None, known_ids: Iterable[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The user's keymap and readable problems; a missing file is simply an empty keymap.

    Pass `known_ids` (the ids of the app's bindings) to report entries that match no binding.
    """
    path = keymap_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"Cannot read keymap {path}: {exc}"]
    import yaml  # only with a keymap file: PyYAML is ~20 ms of a launch

    from oi_core.yaml_load import safe_load

    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        return {}, [f"Keymap {path}{where} is not valid YAML: {getattr(exc, 'problem', None) or exc}; keymap not applied"]
    return parse_keymap(data, source=str(path), known_ids=known_ids)


__all__ = ["keymap_path", "load_keymap", "parse_keymap"]
