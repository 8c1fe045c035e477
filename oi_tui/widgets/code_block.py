"""A code block in the transcript: compact code with its language, then the output and images it produced."""

from __future__ import annotations

import base64
import io
import os

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from oi_core.sanitize import clean_output, terminal_safe, visible_controls

CODE_LINES_SHOWN = 8
OUTPUT_LINES_SHOWN = 12

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


class CodeBlock(Vertical):
    """Compact view of one code block and everything its run produced."""

    def __init__(self, language: str, code: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.language = terminal_safe(language or "text")
        self.code = code
        """The code exactly as it ran or was offered (shown with control characters made visible)."""
        self.output = ""
        self.state = ""
        self.edited = False
        self.incomplete = False
        self.allowed_by = ""
        self.language_guessed = False
        """The fence named no language and `language` is the core's guess."""

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
        lines = visible_controls(self.code).rstrip("\n").split("\n")
        shown = "\n".join(lines[:CODE_LINES_SHOWN])
        lexer = {"shell": "bash", "sh": "bash"}.get(self.language, self.language)
        syntax = Syntax(shown, lexer, theme="ansi_dark", background_color="default", word_wrap=True)
        if len(lines) <= CODE_LINES_SHOWN:
            return syntax
        from rich.console import Group

        return Group(syntax, Text(f"… {len(lines) - CODE_LINES_SHOWN} more lines", style="dim italic"))

    def set_state(self, state: str) -> None:
        self.state = state
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
        tail = lines[-OUTPUT_LINES_SHOWN:]
        return Text(("…\n" if len(lines) > OUTPUT_LINES_SHOWN else "") + "\n".join(tail))

    def append_output(self, text: str) -> None:
        self.output += text
        if len(self.output) > 20_000:
            self.output = self.output[-20_000:]
        box = self.query_one(".code-output", Static)
        box.remove_class("-empty")
        box.update(self._output_renderable())

    async def add_image(self, chunk_format: str, content: str) -> None:
        """Show a base64 image the run produced, below the output."""
        from PIL import Image as PILImage

        try:
            image = PILImage.open(io.BytesIO(base64.b64decode(content)))
            image.load()
        except Exception:
            await self.mount(Static(Text(f"[image: {chunk_format}, could not be decoded]", style="dim")))
            return
        await self.mount(image_widget_class()(image, classes="code-image"))

    async def add_html(self, html: str) -> None:
        """Rich output we cannot render in a terminal: show it as text."""
        shown = html if len(html) < 2000 else html[:2000] + " …"
        await self.mount(Static(Text(shown, style="dim"), classes="code-html"))
