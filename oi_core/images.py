"""Images in user messages: a path typed in the message becomes an LMC image message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
_EXT = r"\.(?:png|jpe?g|gif|webp|bmp)"
# "a path with spaces.png", 'x.png' or `x.png`
_QUOTED = re.compile(r"""(["'`])([^"'`\n]+?""" + _EXT + r")\1", re.I)
# /abs/x.png, ~/x.png, ./x.png, dir/x.png, x.png, file:///x.png, C:\x.png, /my\ shot.png
_BARE = re.compile(
    r"""(?<![\w/~.\\:-])((?:file://)?(?:~|[A-Za-z]:[\\/])?(?:\\ |[^\s"'`<>|()\[\]{}])*?""" + _EXT + r")(?=$|[\s.,;:!?)\]}])",
    re.I,
)


def _candidate(raw: str) -> Path:
    text = raw.strip()
    if text.lower().startswith("file://"):
        text = unquote(text[len("file://"):])
    text = text.replace("\\ ", " ")
    return Path(text).expanduser()


def image_paths_in(text: str, cwd: Path | None = None) -> list[Path]:
    """Existing image files whose paths appear in the text, in order, each once."""
    spans: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for match in _QUOTED.finditer(text):
        spans.append((match.start(2), match.group(2)))
        taken.append(match.span())
    for match in _BARE.finditer(text):
        if any(start <= match.start(1) < end for start, end in taken):
            continue
        spans.append((match.start(1), match.group(1)))
    found: list[Path] = []
    seen: set[Path] = set()
    for _, raw in sorted(spans):
        path = _candidate(raw)
        if not path.is_absolute() and cwd is not None:
            path = cwd / path
        try:
            if not path.is_file():
                continue
            resolved = path.resolve()
        except OSError:
            continue
        if resolved not in seen:
            seen.add(resolved)
            found.append(path)
    return found


def user_message_with_images(text: str) -> list[dict[str, Any]]:
    """The user's message, followed by one image message per image file it names."""
    items: list[dict[str, Any]] = [{"role": "user", "type": "message", "content": text}]
    for path in image_paths_in(text):
        items.append({"role": "user", "type": "image", "format": "path", "content": str(path.resolve())})
    return items
