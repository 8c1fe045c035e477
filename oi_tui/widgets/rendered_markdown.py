"""Content rendered by Rich once per width (finished Markdown among it), then laid out, painted and selected
from the lines it gave."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.strip import Strip
from textual.visual import Visual
from textual.widgets import Static

from .sized_by_layout import SizedByLayout
from .text_selection import highlight_span

if TYPE_CHECKING:
    from textual.css.styles import RulesMap
    from textual.selection import Selection
    from textual.style import Style
    from textual.visual import RenderOptions
    from textual.widget import Widget


class RenderedLines(Visual):
    """Content rendered by Rich once per key (the width, and what else its look depends on), then measured and
    painted from those lines; the widget's style is applied on top, as Textual does for any renderable."""

    def __init__(self) -> None:
        self._key: object = None
        self._lines: list[list[Segment]] = []
        self._styled: tuple[RichStyle, list[Strip]] | None = None

    def key(self, width: int) -> object:
        """What the lines depend on; they are rendered again when it changes."""
        return width

    def render_lines(self, width: int) -> list[list[Segment]]:
        """Blocking: the content's lines at `width`, unstyled."""
        raise NotImplementedError

    def lines(self, width: int) -> list[list[Segment]]:
        """The lines at `width` (rendered now if the key is new)."""
        key = self.key(width)
        if key != self._key:
            self._lines = self.render_lines(width)
            self._key = key
            self._styled = None
        return self._lines

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.lines(width))

    def indent(self, y: int) -> int:
        """Cells at the start of line `y` that are layout (padding, an indent), not text: a copy leaves them out."""
        return 0

    def selected_text(self, width: int, selection: Selection) -> str:
        """The text under `selection` at `width`, line by line as shown, without indents or trailing blanks.

        Offsets count characters, as `Strip.apply_offsets` gave them to each cell."""
        picked: list[str] = []
        for y, line in enumerate(self.lines(width)):
            span = selection.get_span(y)
            if span is None:
                continue
            start, end = span
            text = "".join(segment.text for segment in line).rstrip()
            picked.append(text[max(start, self.indent(y)):None if end == -1 else end])
        return "\n".join(picked)

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        lines = self.lines(width)
        base = style.rich_style
        if self._styled is None or self._styled[0] != base:
            # each cell carries its offset in the text (Textual's selection reads it under the mouse)
            styled = [Strip(list(Segment.apply_style(line, base))).apply_offsets(0, y) for y, line in enumerate(lines)]
            self._styled = (base, styled)
        strips = self._styled[1]
        selection, selected = options.selection, options.selection_style
        if selection is not None and selected is not None:
            strips = [strip if (span := selection.get_span(y)) is None
                      else highlight_span(strip, span, selected.rich_style) for y, strip in enumerate(strips)]
        return strips if height is None else strips[:height]


class MarkdownLines(RenderedLines):
    """Rich's Markdown, rendered once for a width; its height and every paint come from those lines.

    A Rich renderable in a Static is rendered whole to measure its height, then whole again for each paint
    after a refresh: three times for a new part of a long reply (30 paragraphs, ~10–20 ms each), which held the
    screen for up to ~190 ms while a reply streamed. The lines do not depend on the widget's style (applied on
    top), so a new theme reuses them.
    """

    def __init__(self, widget: Widget, text: str) -> None:
        super().__init__()
        self._widget = widget
        self._text = text

    def render_lines(self, width: int) -> list[list[Segment]]:
        from rich.markdown import Markdown

        app = self._widget.app
        options = app.console_options.update(width=width, height=None, highlight=False)
        segments = app.console.render(Markdown(self._text), options)
        return list(Segment.split_and_crop_lines(segments, width, include_new_lines=False, pad=False))


class RenderedStatic(SizedByLayout, Static):
    """A Static showing RenderedLines: cheap to lay out among many, and its text can be selected and copied."""

    def __init__(self, lines: RenderedLines, **kwargs) -> None:
        self.rendered_lines = lines
        super().__init__(lines, **kwargs)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return self.rendered_lines.selected_text(self.content_size.width, selection), "\n"


class RenderedMarkdown(RenderedStatic):
    """Finished Markdown shown as one widget (see MarkdownLines)."""

    def __init__(self, text: str, **kwargs) -> None:
        self.text = text
        super().__init__(MarkdownLines(self, text), **kwargs)
