"""A light preview of one saved conversation: a single Static holding Rich text, not a widget per message."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from oi_core.conversation_text import message_text
from oi_core.sanitize import clean_output, terminal_safe

PREVIEW_MESSAGES = 80  # the last N messages; earlier ones are summarised in one line
PREVIEW_CHARS = 2_000  # per message
ROLE_LABEL = {"user": "You", "assistant": "Assistant", "computer": "Output"}
_LEXERS = {"shell": "bash", "sh": "bash", "zsh": "bash", "js": "javascript", "r": "r", "applescript": "applescript"}


def _clip(text: str) -> str:
    """At most PREVIEW_CHARS characters, sanitised: this is text from a conversation file, shown as text."""
    text = terminal_safe(text)
    if len(text) > PREVIEW_CHARS:
        return text[:PREVIEW_CHARS].rstrip() + f"\n… ({len(text) - PREVIEW_CHARS:,} more characters)"
    return text


def preview_renderable(title: str, messages: list[dict[str, Any]]) -> RenderableType:
    """Build the whole preview as one renderable (safe to call off the UI thread); nothing is read as markup."""
    parts: list[RenderableType] = [Text(terminal_safe(title), style="bold underline")]
    hidden = max(0, len(messages) - PREVIEW_MESSAGES)
    if hidden:
        parts.append(Text(f"… {hidden} earlier message{'s' if hidden != 1 else ''} not shown", style="dim italic"))
    speaker = None
    for message in messages[hidden:]:
        role = str(message.get("role", ""))
        kind = message.get("type", "message")
        if kind == "confirmation":
            continue
        label = ROLE_LABEL.get(role, terminal_safe(role.title()))
        if label != speaker:
            parts.append(Text(""))
            parts.append(Text(label, style="bold reverse" if role == "user" else "bold"))
            speaker = label
        if kind == "code" and role != "computer":
            language = terminal_safe(str(message.get("format") or "text"))
            parts.append(
                Syntax(_clip(str(message.get("content") or "")), _LEXERS.get(language.lower(), language.lower()),
                       theme="ansi_dark", word_wrap=True, background_color="default")
            )
        elif kind == "console":
            text = _clip(clean_output(str(message.get("content") or ""))).rstrip("\n")
            parts.append(Padding(Text(text or "(no output)", style="dim"), (0, 0, 0, 2)))
        elif kind == "image":
            parts.append(Text("[image]", style="italic"))
        elif role == "assistant" and kind == "message":
            parts.append(Markdown(_clip(message_text(message)), code_theme="ansi_dark"))
        else:
            parts.append(Text(_clip(message_text(message))))
    if not messages:
        parts.append(Text("\n(no messages)", style="dim"))
    return Group(*parts)


class ConversationPreview(VerticalScroll):
    """Scrollable preview pane."""

    def compose(self):
        yield Static(id="preview-body", markup=False)

    def show(self, renderable: RenderableType | str) -> None:
        self.query_one("#preview-body", Static).update(renderable)
        self.scroll_home(animate=False)
