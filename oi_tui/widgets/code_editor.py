"""The code editor pane: shows the current code block, fills in live, highlights the executing line."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Offset
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import TextArea

#: Names the core uses for a language -> the tree-sitter grammar that highlights it.
GRAMMARS = {
    "shell": "bash", "bash": "bash", "sh": "bash", "zsh": "bash",
    "python": "python", "py": "python",
    "javascript": "javascript", "js": "javascript", "node": "javascript",
    "html": "html", "css": "css", "json": "json", "yaml": "yaml", "toml": "toml",
    "sql": "sql", "rust": "rust", "go": "go", "java": "java", "markdown": "markdown", "xml": "xml",
}


class CodeEditor(TextArea):
    """A TextArea that is read-only unless the user edits a pending block, with an active-line overlay."""

    active_line: reactive[int | None] = reactive(None)
    """0-based row of the line that is executing, or None."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            read_only=True, show_line_numbers=True, soft_wrap=False, tab_behavior="indent", **kwargs
        )
        self.code_language = ""
        """The core's name for the language shown (shell, python, ...)."""
        self.border_title = "code"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.follow_app_theme())
        self.follow_app_theme()

    def follow_app_theme(self) -> None:
        """Syntax colours derived from the app theme, so the editor matches whatever theme is chosen."""
        from ..themes import apply_text_area_theme

        apply_text_area_theme(self, self.app.current_theme)

    def show_code(self, language: str, code: str = "") -> None:
        """Replace the content with a new block (read-only, cursor at the top)."""
        self.code_language = language
        grammar = GRAMMARS.get(language.lower())
        self.language = grammar if grammar in self.available_languages else None
        self.active_line = None
        self.read_only = True
        self.load_text(code)
        self.border_title = language or "code"
        self.border_subtitle = ""

    def append_code(self, text: str) -> None:
        """Add streamed code at the end (callers coalesce chunks before calling)."""
        self.insert(text, self.document.end, maintain_selection_offset=False)
        self.scroll_end(animate=False, immediate=True)

    def begin_editing(self) -> None:
        """Make the pending block writable and put the cursor at its end, where edits usually go."""
        self.read_only = False
        self.move_cursor(self.document.end)
        self.border_subtitle = "editing · ctrl+r runs · esc leaves"
        self.focus()

    def end_editing(self) -> None:
        self.read_only = True
        self.border_subtitle = ""

    def watch_active_line(self, line: int | None) -> None:
        if line is not None and 0 <= line < self.document.line_count:
            self.scroll_to_region_row(line)
        self.refresh()

    def scroll_to_region_row(self, row: int) -> None:
        """Keep the executing line in view without moving the user's cursor."""
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        if not (top <= row < top + height):
            self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True)

    def _active_line_style(self) -> Style:
        color = self.app.theme_variables.get("success-muted") or self.app.theme_variables.get("success", "#2e4a2e")
        return Style.parse(f"on {color}") if color.startswith("#") else Style(bgcolor="#2e4a2e")

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.active_line is None:
            return strip
        scroll_y = self.scroll_offset.y
        if scroll_y + y >= self.wrapped_document.height:
            return strip
        row, _ = self.wrapped_document.offset_to_location(Offset(0, scroll_y + y))
        if row != self.active_line:
            return strip
        overlay = self._active_line_style()
        return Strip(
            [Segment(text, (style or Style()) + overlay, control) for text, style, control in strip],
            strip.cell_length,
        )
