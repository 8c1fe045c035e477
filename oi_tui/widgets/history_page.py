"""Older messages behind "show earlier", in their light form: plain text, a page of messages per widget."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text

from oi_core.sanitize import terminal_safe

from .rendered_markdown import RenderedLines, RenderedStatic

#: A message in its light form shows at most this much of its text.
SHOWN_CHARS = 2000
#: Columns a user's message is indented by (as in the full transcript, chat.tcss).
USER_INDENT = 8


def text_width(role: str, width: int) -> int:
    """Columns a message's text wraps at in a page `width` wide: a column of padding each side, a user's indent."""
    return max(1, width - 2 - indent_of(role, width))


def indent_of(role: str, width: int) -> int:
    """A user's message is indented (less when the page is very narrow); the others are not."""
    return min(USER_INDENT, max(0, width - 3)) if role == "user" else 0


def shown_text(text: str) -> str:
    """What the light form shows of a message: its start, sanitised."""
    return terminal_safe(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + " …")


class HistoryLines(RenderedLines):
    """A page's messages, each after a blank line (the first has the page's margin), wrapped with a column of
    padding each side; a user's message indented and on the `history-page--user` background."""

    def __init__(self, page: HistoryPage) -> None:
        super().__init__()
        self._page = page
        self._indents: list[int] = []  # per line: the padding and a user message's indent

    def indent(self, y: int) -> int:
        return self._indents[y] if y < len(self._indents) else 0

    def key(self, width: int) -> object:
        return width, self._page.user_style()

    def render_lines(self, width: int) -> list[list[Segment]]:
        console = self._page.app.console
        user_style = self._page.user_style()
        lines: list[list[Segment]] = []
        self._indents = []
        for index, (role, text) in enumerate(self._page.messages):
            if index:
                lines.append([Segment(" " * width)])
                self._indents.append(0)
            user = role == "user"
            indent = indent_of(role, width)
            options = console.options.update(width=text_width(role, width), height=None, highlight=False)
            for line in console.render_lines(Text(shown_text(text), overflow="fold"), options, pad=True):
                row = [Segment(" "), *line, Segment(" ")]
                if user:
                    row = [Segment(" " * indent), *Segment.apply_style(row, user_style)]
                lines.append(row)
                self._indents.append(indent + 1)
        return lines


class HistoryPage(RenderedStatic):
    """Older messages drawn as one widget: reading far back in a long conversation adds one widget per page it
    reveals, not one per message, and every later layout walks each widget (late PgUps grew to ~50 ms)."""

    COMPONENT_CLASSES = {"history-page--user"}
    DEFAULT_CSS = """
    HistoryPage { margin: 1 0 0 0; color: $text-muted; }
    HistoryPage > .history-page--user { background: $primary 8%; }
    """

    def __init__(self, messages: list[tuple[str, str]], **kwargs) -> None:
        self.messages = list(messages)
        """(role, text) as each was said: what the page shows (`shown_text`) and what folding keeps."""
        super().__init__(HistoryLines(self), **kwargs)

    def user_style(self) -> RichStyle:
        """A user's message's colours: `history-page--user` over the page's background, and the page's text colour
        over that (blended as Textual blends a widget's own: an `auto` colour contrasts with what it is on)."""
        background = self.background_colors[1] + self.get_component_styles("history-page--user").background
        color = self.styles.color
        if self.styles.auto_color:
            color = background.get_contrast_text(color.a)
        return RichStyle(color=(background + color).rich_color, bgcolor=background.rich_color)

    @staticmethod
    def estimated_rows(role: str, text: str, width: int) -> int:
        """Rows one message takes in a page `width` wide, its blank line above included, before layout."""
        inner = text_width(role, width)
        return 1 + sum(max(1, -(-len(line) // inner)) for line in shown_text(text).split("\n"))
