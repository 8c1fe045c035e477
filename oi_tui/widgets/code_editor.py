"""The code editor pane: shows the current code block, fills in live, highlights the executing line.

Lines the risk classifier or safe mode's scan flag get a coloured mark in the gutter, and the reason
for the line under the cursor is shown in the border.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Offset
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import TextArea

from oi_core.sanitize import terminal_safe, visible_controls

if TYPE_CHECKING:  # argument types only: the safety checks load with the first code block
    from oi_core.safety.types import Finding, RiskMark

#: Names the core uses for a language -> the tree-sitter grammar that highlights it.
GRAMMARS = {
    "shell": "bash", "bash": "bash", "sh": "bash", "zsh": "bash",
    "python": "python", "py": "python",
    "javascript": "javascript", "js": "javascript", "node": "javascript",
    "html": "html", "css": "css", "json": "json", "yaml": "yaml", "toml": "toml",
    "sql": "sql", "rust": "rust", "go": "go", "java": "java", "markdown": "markdown", "xml": "xml",
}


#: Gutter glyphs and the theme colour for each level.
LEVEL_COLOURS = {"high": "error", "medium": "warning", "low": "secondary"}
SEVERITY_LEVELS = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}
RANK = {"high": 0, "medium": 1, "low": 2}


def shown_code(code: str) -> str:
    """Code as the editor and transcript show it: control characters visible, never obeyed by the terminal."""
    return visible_controls(code)


@dataclass(frozen=True)
class LineMark:
    """What the gutter shows for one line: the worst level, a glyph, and every reason for it."""

    level: str
    glyph: str
    reasons: tuple[str, ...]


def line_marks(risks: Iterable[RiskMark], findings: Iterable[Finding] = ()) -> dict[int, LineMark]:
    """0-based row -> mark; a finding (◆) wins the glyph over a risk mark (●), the worst level the colour."""
    rows: dict[int, tuple[str, str, list[str]]] = {}

    def add(row: int, level: str, glyph: str, reason: str) -> None:
        old_level, old_glyph, reasons = rows.get(row, (level, glyph, []))
        worst = level if RANK.get(level, 3) < RANK.get(old_level, 3) else old_level
        rows[row] = (worst, "◆" if "◆" in (glyph, old_glyph) else glyph, reasons + [terminal_safe(reason)])

    for finding in findings:
        for line in range(finding.line, max(finding.line, finding.end_line) + 1):
            add(line - 1, SEVERITY_LEVELS.get(finding.severity, "medium"), "◆", finding.message)
    for mark in risks:
        add(mark.line - 1, mark.level, "●", mark.reason)
    return {row: LineMark(level, glyph, tuple(reasons)) for row, (level, glyph, reasons) in rows.items() if row >= 0}


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
        self.marks: dict[int, LineMark] = {}
        """Risk marks and scan findings by 0-based row."""
        self._edit_hint = ""
        self.border_title = "code"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.follow_app_theme())
        self.follow_app_theme()

    def follow_app_theme(self) -> None:
        """Syntax colours derived from the app theme, so the editor matches whatever theme is chosen."""
        from ..themes import apply_text_area_theme

        apply_text_area_theme(self, self.app.current_theme)

    def show_code(self, language: str, code: str = "") -> None:
        """Replace the content with a new block (read-only, cursor at the top, no marks)."""
        self.code_language = language
        grammar = GRAMMARS.get(language.lower())
        grammar = grammar if grammar in self.available_languages else None
        if grammar != self.language:
            self.language = grammar  # a new grammar: its highlight query is compiled (once, here)
        self.active_line = None
        self.read_only = True
        self.marks = {}
        self._edit_hint = ""
        self._replace_all(shown_code(code))
        self.border_title = terminal_safe(language) or "code"
        self._show_reason()

    def _replace_all(self, text: str) -> None:
        """New content in the same document: load_text would compile the highlight query again (20-50 ms each block)."""
        self.replace(text, (0, 0), self.document.end, maintain_selection_offset=False)
        self.history.clear()
        self.move_cursor((0, 0))
        self.scroll_home(animate=False, immediate=True)

    def append_code(self, text: str) -> None:
        """Add streamed code at the end (callers coalesce chunks before calling)."""
        self.insert(shown_code(text), self.document.end, maintain_selection_offset=False)
        self.scroll_end(animate=False, immediate=True)

    def set_marks(self, marks: dict[int, LineMark]) -> None:
        """Show these risk marks / findings in the gutter (replacing the previous ones)."""
        self.marks = dict(marks)
        self._show_reason()
        self.refresh()

    def mark_at_cursor(self) -> LineMark | None:
        return self.marks.get(self.cursor_location[0])

    def begin_editing(self) -> None:
        """Make the pending block writable and put the cursor at its end, where edits usually go."""
        self.read_only = False
        self.move_cursor(self.document.end)
        self._edit_hint = "editing · ctrl+r runs it · esc cancels"
        self._show_reason()
        self.focus()

    def end_editing(self) -> None:
        self.read_only = True
        self._edit_hint = ""
        self._show_reason()

    def on_text_area_selection_changed(self) -> None:
        self._show_reason()

    def _show_reason(self) -> None:
        """The border says why the line under the cursor is marked; otherwise the edit hint or the mark count."""
        mark = self.marks.get(self.cursor_location[0]) if self.marks else None
        if mark is not None:
            self.border_subtitle = f"L{self.cursor_location[0] + 1} {mark.glyph} " + " · ".join(mark.reasons)
        elif self._edit_hint:
            self.border_subtitle = self._edit_hint
        elif self.marks:
            count = len(self.marks)
            self.border_subtitle = f"{count} marked line{'s' if count != 1 else ''} · put the cursor on one for why"
        else:
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

    def _mark_style(self, level: str) -> Style:
        colour = self.app.theme_variables.get(LEVEL_COLOURS.get(level, "warning"), "")
        return Style(color=colour, bold=True) if colour.startswith("#") else Style(color="red", bold=True)

    def _with_gutter_mark(self, strip: Strip, mark: LineMark) -> Strip:
        """Put the mark's glyph in the gutter's first margin cell, coloured by level."""
        width = self.gutter_width
        if width < 2 or strip.cell_length <= width:
            return strip
        number, margin, rest = strip.divide([width - 2, width - 1, strip.cell_length])
        base = next((style for _, style, _ in margin if style is not None), None) or Style()
        glyph = Strip([Segment(mark.glyph, base + self._mark_style(mark.level))], 1)
        return Strip.join([number, glyph, rest])

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.active_line is None and not self.marks:
            return strip
        scroll_y = self.scroll_offset.y
        if scroll_y + y >= self.wrapped_document.height:
            return strip
        row, _ = self.wrapped_document.offset_to_location(Offset(0, scroll_y + y))
        mark = self.marks.get(row)
        if mark is not None and self.show_line_numbers:
            strip = self._with_gutter_mark(strip, mark)
        if row != self.active_line:
            return strip
        overlay = self._active_line_style()
        return Strip(
            [Segment(text, (style or Style()) + overlay, control) for text, style, control in strip],
            strip.cell_length,
        )
