"""Plain-text views of LMC messages: titles, snippets, search text and fuzzy scores.

Nothing here touches the disk; `conversations` and the TUI both build on it. (Secrets are redacted by
`oi_core.secrets`, the one redaction helper.)
"""

from __future__ import annotations

import re
from typing import Any

TITLE_LIMIT = 80
SNIPPET_LIMIT = 120
SEARCH_TEXT_LIMIT = 200_000  # characters of searchable text kept per conversation
UNTITLED = "Untitled conversation"
_SPACES = re.compile(r"\s+")


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace and shorten to `limit` characters (with an ellipsis)."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def is_text_message(message: dict[str, Any]) -> bool:
    return message.get("type", "message") == "message" and isinstance(message.get("content"), str)


def title_for(messages: list[dict[str, Any]]) -> str:
    """A readable title: the first line of the first user message."""
    for message in messages:
        if message.get("role") == "user" and is_text_message(message):
            for line in message["content"].splitlines():
                if line.strip():
                    return one_line(line, TITLE_LIMIT)
    return UNTITLED


def snippet_for(messages: list[dict[str, Any]]) -> str:
    """The first line of the latest assistant (or user) text: where the conversation left off."""
    for role in ("assistant", "user"):
        for message in reversed(messages):
            if message.get("role") == role and is_text_message(message):
                for line in message["content"].splitlines():
                    if line.strip():
                        return one_line(line, SNIPPET_LIMIT)
    return ""


def message_text(message: dict[str, Any]) -> str:
    """What a person would read in a message; images and other binary payloads become a short marker."""
    kind = message.get("type", "message")
    content = message.get("content")
    if kind == "image":
        return "[image]" if message.get("format") != "path" else f"[image {content}]"
    if kind == "confirmation" and isinstance(content, dict):
        return str(content.get("content") or "")
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    return str(content)


def search_text(messages: list[dict[str, Any]]) -> str:
    """All readable text of a conversation, lower-cased, for content search."""
    parts: list[str] = []
    total = 0
    for message in messages:
        if message.get("type") == "image":
            continue
        text = message_text(message)
        parts.append(text)
        total += len(text)
        if total > SEARCH_TEXT_LIMIT:
            break
    return "\n".join(parts)[:SEARCH_TEXT_LIMIT].lower()


# ---------------------------------------------------------------- fuzzy matching


def fuzzy_score(query: str, text: str) -> float:
    """Score how well `query` matches `text` (0 = no match). Substrings beat scattered subsequences."""
    query = query.lower().strip()
    if not query:
        return 1.0
    lowered = text.lower()
    if query in lowered:
        return 3.0 + (1.0 if lowered.startswith(query) else 0.0) + len(query) / max(len(lowered), 1)
    words = query.split()
    if len(words) > 1 and all(word in lowered for word in words):
        return 2.0 + len(query) / max(len(lowered), 1)
    compact = query.replace(" ", "")
    position = 0
    score = 0.0
    previous = -2
    for char in compact:
        found = lowered.find(char, position)
        if found < 0:
            return 0.0
        if found == previous + 1:
            score += 1.0  # consecutive characters
        elif found == 0 or not lowered[found - 1].isalnum():
            score += 0.8  # start of a word
        else:
            score += 0.1
        previous = found
        position = found + 1
    return min(score / len(compact), 1.0) * 1.5


def content_score(query: str, text_lower: str) -> float:
    """Content matches need every query word to appear (scattered letters across a whole chat mean nothing)."""
    words = query.lower().split()
    if not words:
        return 0.0
    if all(word in text_lower for word in words):
        return 1.0
    return 0.0
