"""A text selection drawn on a row, for the widgets that paint their own lines (StreamedText, RenderedLines)."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def highlight_span(strip: Strip, span: tuple[int, int], style: Style) -> Strip:
    """`strip` with the characters in `span` (a Selection's span for its row; an end of -1: to the row's end)
    drawn in `style` on top. Spans count characters, as `Strip.apply_offsets` numbers the cells."""
    text = strip.text
    start, end = span
    first, last = cell_len(text[:start]), cell_len(text if end == -1 else text[:end])
    selected = Strip(list(Segment.apply_style(strip.crop(first, last), post_style=style)))
    return Strip.join([strip.crop(0, first), selected, strip.crop(last)])
