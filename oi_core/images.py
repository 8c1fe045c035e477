"""Images in user messages: a path typed in the message becomes an LMC image message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
_PATH = re.compile(r"""(?:(?<=\s)|^)(['"]?)((?:~|\.{1,2}|/)[^\s'"]*?\.(?:png|jpe?g|gif|webp|bmp))\1(?=\s|$|[.,;:!?)])""", re.I)


def image_paths_in(text: str) -> list[Path]:
    """Existing image files whose paths appear in the text."""
    found = []
    for match in _PATH.finditer(text):
        path = Path(match.group(2)).expanduser()
        if path.is_file():
            found.append(path)
    return found


def user_message_with_images(text: str) -> list[dict[str, Any]]:
    """The user's message, followed by one image message per image file it names."""
    items: list[dict[str, Any]] = [{"role": "user", "type": "message", "content": text}]
    for path in image_paths_in(text):
        items.append({"role": "user", "type": "image", "format": "path", "content": str(path.resolve())})
    return items
