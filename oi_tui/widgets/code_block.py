"""A code block in the transcript: compact code with its language, then the output and images it produced."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from oi_core.sanitize import clean_output, terminal_safe, visible_controls

if TYPE_CHECKING:
    from rich.syntax import Syntax

CODE_LINES_SHOWN = 8
OUTPUT_LINES_SHOWN = 12
#: A fold hides at least this many lines (the hint takes a line of its own: folding one line would save nothing).
FOLD_AT_LEAST = 2


def _folds(lines: int, shown: int) -> bool:
    """`lines` lines are folded to `shown` (the one rule for code and output)."""
    return lines >= shown + FOLD_AT_LEAST

#: "halfcell" (default) or "unicode"; both render the same in every terminal (tests force one).
IMAGE_RENDERER_ENV = "OI_TUI_IMAGE_RENDERER"

STATE_LABELS = {"": "", "pending": "awaiting approval", "running": "running", "done": "ran",
                "skipped": "skipped", "stopped": "stopped", "editing": "editing", "not_run": "not run",
                "fix": "not run · sent back to the model"}


class _NotATerminal:
    """Stands in for sys.__stdout__ while textual-image is imported, so it does not query the terminal."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def image_widget_class(renderer: str | None = None):
    """The textual-image widget class for the configured renderer (imported on first use).

    textual-image probes the terminal at import time, which would fight Textual for stdin once the
    app runs. Half-cell and Unicode rendering need no probe, so the import sees a non-terminal stdout.
    """
    import sys

    if "textual_image.widget" not in sys.modules:
        real = sys.__stdout__
        sys.__stdout__ = _NotATerminal(real)  # type: ignore[assignment]
        try:
            import textual_image.widget  # noqa: F401
        finally:
            sys.__stdout__ = real  # type: ignore[assignment]
    from textual_image.widget import HalfcellImage, UnicodeImage

    renderer = (renderer or os.environ.get(IMAGE_RENDERER_ENV) or "halfcell").lower()
    return UnicodeImage if renderer == "unicode" else HalfcellImage


#: Images are kept at most this size (pixels): a terminal shows far fewer, and a screenshot decoded in
#: full is ~8 MB that a long session would keep for every image.
IMAGE_MAX_PIXELS = (480, 480)


def decode_image(content: str):
    """A base64 image decoded and shrunk to IMAGE_MAX_PIXELS (CPU work: run it in a thread)."""
    from PIL import Image as PILImage

    image = PILImage.open(io.BytesIO(base64.b64decode(content)))
    image.load()
    image.thumbnail(IMAGE_MAX_PIXELS)
    return image


class CodeBlock(Vertical):
    """Compact view of one code block and everything its run produced."""

    def __init__(self, language: str, code: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.language = terminal_safe(language or "text")
        self.code = code
        """The code exactly as it ran or was offered (shown with control characters made visible)."""
        self.output = ""
        self.state = ""
        self.has_run = False
        """Its code started running in this session (a block stopped or skipped before that never ran)."""
        self.edited = False
        self.incomplete = False
        self.allowed_by = ""
        self.language_guessed = False
        """The fence named no language and `language` is the core's guess."""
        self._fold_seen: tuple[str, str, bool] | None = None  # (code, output, collapsible) last worked out
        self.expanded = False
        """All the code and all the kept output are shown (a click on the block, or f3, toggles it)."""

    def compose(self) -> ComposeResult:
        yield Label(self._header(), id="code-header", classes="code-header", markup=False)
        yield Static(self._code_renderable(), classes="code-body")
        yield Static(self._output_renderable(), classes="code-output" + ("" if self.output else " -empty"))

    def _header(self) -> str:
        parts = [STATE_LABELS.get(self.state, self.state)]
        if self.incomplete:
            parts.append("cut off")
        if self.edited:
            parts.append("edited by you")
        if self.allowed_by:
            parts.append(f"allowed by rule: {self.allowed_by}")
        language = f"{self.language} (guessed)" if self.language_guessed else self.language
        return f" {language} " + "".join(f"· {part} " for part in parts if part).rstrip()

    def _code_renderable(self) -> Syntax | Text:
        from rich.syntax import Syntax  # with pygments ~9 ms: not before the first frame, which shows no code

        lines = visible_controls(self.code).rstrip("\n").split("\n")
        collapsed = not self.expanded and _folds(len(lines), CODE_LINES_SHOWN)
        shown = "\n".join(lines[:CODE_LINES_SHOWN] if collapsed else lines)
        lexer = {"shell": "bash", "sh": "bash"}.get(self.language, self.language)
        syntax = Syntax(shown, lexer, theme="ansi_dark", background_color="default", word_wrap=True)
        if not collapsed:
            return syntax
        from rich.console import Group

        more = len(lines) - CODE_LINES_SHOWN
        return Group(syntax, Text(f"… {more} more lines (click or f3 to show all)", style="dim italic"))

    @property
    def collapsible(self) -> bool:
        """Some code or output is hidden (or shown only because the block is expanded); worked out once per change."""
        seen = self._fold_seen
        if seen is not None and seen[0] is self.code and seen[1] is self.output:
            return seen[2]
        code_lines = visible_controls(self.code).rstrip("\n").count("\n") + 1
        output_lines = clean_output(self.output).rstrip("\n").count("\n") + 1
        foldable = _folds(code_lines, CODE_LINES_SHOWN) or _folds(output_lines, OUTPUT_LINES_SHOWN)
        self._fold_seen = (self.code, self.output, foldable)
        return foldable

    def toggle_expanded(self) -> None:
        """Show all the code and output, or go back to the compact view."""
        self.expanded = not self.expanded
        self.set_class(self.expanded, "-expanded")
        self.query_one(".code-body", Static).update(self._code_renderable())
        self.query_one(".code-output", Static).update(self._output_renderable())

    def on_click(self, event: events.Click) -> None:
        target = event.widget
        if target is not None and (target.has_class("code-body") or target.has_class("code-output")) and self.collapsible:
            event.stop()
            self.toggle_expanded()

    def set_state(self, state: str) -> None:
        self.state = state
        if state == "running":
            self.has_run = True
        self.set_class(state in ("pending", "editing"), "-pending")
        self.set_class(state == "running", "-running")
        self.set_class(state in ("skipped", "not_run", "fix"), "-not-run")
        self._update_header()

    def mark(self, *, edited: bool | None = None, incomplete: bool | None = None, allowed_by: str | None = None) -> None:
        """Flags shown in the header: edited by you, cut off by the token limit, run by an allow rule."""
        if edited is not None:
            self.edited = edited
        if incomplete is not None:
            self.incomplete = incomplete
        if allowed_by is not None:
            self.allowed_by = terminal_safe(allowed_by)
        self._update_header()

    def _update_header(self) -> None:
        if self.is_mounted:
            self.query_one("#code-header", Label).update(self._header())

    def append_code(self, text: str) -> None:
        self.code += text
        self.query_one(".code-body", Static).update(self._code_renderable())

    def set_code(self, code: str) -> None:
        self.code = code
        self.query_one(".code-body", Static).update(self._code_renderable())

    def _output_renderable(self) -> Text:
        lines = clean_output(self.output).rstrip("\n").split("\n")
        if self.expanded or not _folds(len(lines), OUTPUT_LINES_SHOWN):
            return Text("\n".join(lines))
        hidden = len(lines) - OUTPUT_LINES_SHOWN
        return Text.assemble((f"… {hidden} earlier lines (click or f3 to show all)\n", "dim italic"),
                             "\n".join(lines[-OUTPUT_LINES_SHOWN:]))

    def append_output(self, text: str) -> None:
        self.output += text
        if len(self.output) > 20_000:
            self.output = self.output[-20_000:]
        box = self.query_one(".code-output", Static)
        box.remove_class("-empty")
        box.update(self._output_renderable())

    async def add_image(self, chunk_format: str, content: str) -> None:
        """Show a base64 image the run produced, below the output (decoded and shrunk off the UI thread)."""
        try:
            image = await asyncio.to_thread(decode_image, content)
        except Exception:
            await self.mount(Static(Text(f"[image: {chunk_format}, could not be decoded]", style="dim")))
            return
        await self.mount(image_widget_class()(image, classes="code-image"))

    async def add_html(self, html: str) -> None:
        """Rich output we cannot render in a terminal: show it as text."""
        shown = html if len(html) < 2000 else html[:2000] + " …"
        await self.mount(Static(Text(shown, style="dim"), classes="code-html"))
