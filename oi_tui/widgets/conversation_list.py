"""The navigator's list of saved conversations: title, date, message count and snippet per entry."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from oi_core.conversations import ConversationInfo
from oi_core.sanitize import terminal_safe


def format_when(info: ConversationInfo) -> str:
    """The update time in the local time zone, e.g. "2024-05-01 14:03"."""
    stamp = info.updated_at
    if stamp.timestamp() <= 0:
        return ""
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M")


def entry_renderable(info: ConversationInfo) -> Table:
    """Two lines per conversation; its title and snippet are shown as plain, sanitised text."""
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    count = f"{info.message_count} message{'s' if info.message_count != 1 else ''}"
    grid.add_row(Text(terminal_safe(info.title), style="bold"), Text(format_when(info), style="dim"))
    grid.add_row(Text(terminal_safe(info.snippet) or " ", style="dim italic"), Text(count, style="dim"))
    return grid


class ConversationList(OptionList):
    """An OptionList whose option ids are conversation ids."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.conversations: list[ConversationInfo] = []

    def set_conversations(self, infos: list[ConversationInfo], keep: str | None = None) -> None:
        """Replace the entries, keeping the highlight on `keep` (a conversation id) when it is still listed."""
        self.conversations = list(infos)
        self.clear_options()
        entries: list[Option | None] = []
        for info in infos:
            if entries:
                entries.append(None)  # a separator line; separators are not options
            entries.append(Option(entry_renderable(info), id=info.id))
        self.add_options(entries)
        if not infos:
            return
        ids = [info.id for info in infos]
        self.highlighted = ids.index(keep) if keep in ids else 0

    @property
    def selected(self) -> ConversationInfo | None:
        index = self.highlighted
        if index is None or not (0 <= index < len(self.conversations)):
            return None
        return self.conversations[index]
