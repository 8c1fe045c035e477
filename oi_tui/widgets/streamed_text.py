"""Plain text that grows at its end, cheap to extend: the part of a reply still being written.

A Static re-wraps its whole text on every update, so a paragraph that keeps growing (a 1 MB reply with no
blank line) costs more per token the longer it gets. Here the text is kept as wrapped rows: an append
re-wraps only the last row, and only the rows on screen are rendered (Textual's line API). Greedy word
wrapping never moves an earlier break when text is added, so earlier rows stay as they are. Text can be
selected and copied like any other text in the app.
"""

from __future__ import annotations

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from textual.geometry import Size
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from .sized_by_layout import SizedByLayout
from .text_selection import highlight_span


def wrap_line(line: str, width: int) -> list[str]:
    """Greedy word wrap of one line (no newlines) to `width` cells; words longer than a row are split.

    The rows joined give back the line exactly: the spaces where a row breaks stay at the end of the row
    before (past the edge, where they are cropped), so each row's start in the line is known.
    """
    if width <= 0 or cell_len(line) <= width:
        return [line]
    rows: list[str] = []
    row = ""
    row_cells = 0
    for word in _words(line):
        cells = cell_len(word)
        if row_cells + cells <= width:
            row += word
            row_cells += cells
            continue
        core = word.lstrip(" ")
        spaces = word[: len(word) - len(core)]
        if row:  # the word starts a new row; the spaces before it end this one
            rows.append(row + spaces)
            row, row_cells, word = "", 0, core
            if cell_len(core) <= width:
                row, row_cells = core, cell_len(core)
                continue
        # a word wider than a row gets rows of its own (so the break before it never moves as it grows)
        pieces = chop_cells(word, width)
        rows.extend(pieces[:-1])
        row = pieces[-1]
        row_cells = cell_len(row)
    rows.append(row)
    return rows


def _words(line: str) -> list[str]:
    """The line split before each run of spaces, so every piece carries its leading spaces."""
    words: list[str] = []
    start = 0
    for i in range(1, len(line)):
        if line[i] == " " and line[i - 1] != " ":
            words.append(line[start:i])
            start = i
    words.append(line[start:])
    return words


class StreamedText(SizedByLayout, Widget):
    """A block of plain text that is appended to while it is shown."""

    DEFAULT_CSS = """
    StreamedText {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._text_lines: list[str] = [""]  # logical lines; the last one is still growing
        self._wrapped: list[str] = []  # wrapped rows of every line at `_wrap_width`
        self._last_row_start = 0  # where the last row begins in the last logical line
        self._wrap_width = 0
        self._chars = 0
        if text:
            self.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self._text_lines)

    @property
    def size_in_chars(self) -> int:
        return self._chars

    def append(self, text: str) -> None:
        """Add text at the end; only the last row is wrapped again."""
        if not text:
            return
        self._chars += len(text)
        parts = text.replace("\t", "    ").split("\n")
        grown = len(self._text_lines) - 1
        self._text_lines[-1] += parts[0]
        self._text_lines.extend(parts[1:])
        if self._wrap_width:
            # the last row of the line that grew is wrapped again from its start; if it is empty (the line
            # ended in spaces past a row's edge), the row before it too: more spaces still belong to it
            start, rows = self._last_row_start, 1
            if start and len(self._wrapped) > 1 and not self._wrapped[-1]:
                start, rows = start - len(self._wrapped[-2]), 2
            del self._wrapped[-rows:]
            self._wrap_from(grown, start)
        self.refresh(layout=True)

    def clear(self) -> None:
        self._text_lines, self._wrapped, self._last_row_start, self._chars = [""], [], 0, 0
        self._wrap_width = 0
        self.refresh(layout=True)

    def _wrap_from(self, index: int, offset: int) -> None:
        """Wrap logical line `index` from `offset` on, and every line after it, onto `_wrapped`."""
        start = offset
        for line in self._text_lines[index:]:
            rows = wrap_line(line[start:], self._wrap_width)
            self._wrapped.extend(rows)
            self._last_row_start = start + sum(len(row) for row in rows[:-1])
            start = 0

    # ------------------------------------------------------------ layout and rendering

    def _wrap_all(self, width: int) -> None:
        self._wrap_width = width
        self._wrapped = []
        self._wrap_from(0, 0)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._wrap_width:
            self._wrap_all(width)
        return len(self._wrapped)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._wrap_width:
            self._wrap_all(width)
        style = self.rich_style
        if y >= len(self._wrapped):
            return Strip.blank(width, style)
        row = self._wrapped[y]
        strip = Strip([Segment(row, style)], cell_len(row))
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            strip = highlight_span(strip, span, self.screen.get_component_rich_style("screen--selection"))
        return strip.crop_extend(0, width, style).apply_offsets(0, y)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self._wrapped)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()


__all__ = ["StreamedText", "wrap_line"]
