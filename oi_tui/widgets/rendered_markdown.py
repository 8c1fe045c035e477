"""Markdown rendered by Rich once per width, then laid out and painted from the lines it gave."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.strip import Strip
from textual.visual import Visual
from textual.widgets import Static

from .sized_by_layout import SizedByLayout

if TYPE_CHECKING:
    from textual.css.styles import RulesMap
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

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        lines = self.lines(width)
        base = style.rich_style
        if self._styled is None or self._styled[0] != base:
            self._styled = (base, [Strip(list(Segment.apply_style(line, base))) for line in lines])
        strips = self._styled[1]
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


class RenderedMarkdown(SizedByLayout, Static):
    """Finished Markdown shown as one widget: cheap to lay out among many (see MarkdownLines)."""

    def __init__(self, text: str, **kwargs) -> None:
        self.text = text
        super().__init__(MarkdownLines(self, text), **kwargs)
