"""The line under a code block that says what its run changed on disk, and the kernel-replay progress line."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from oi_core.checkpoints import summary_line
from oi_core.sanitize import terminal_safe


class RunChanges(Static):
    """`+2 ~1 -0 files · +14 −3 lines`; a click opens the run's menu (changes, undo, rewind)."""

    DEFAULT_CSS = """
    RunChanges {
        height: auto;
        padding: 0 1;
        border-left: thick $secondary;
        background: $surface;
        color: $text-muted;
    }
    RunChanges:hover { background: $boost; }
    RunChanges.-no-checkpoint { color: $warning; }
    RunChanges.-undone { text-style: italic; }
    RunChanges.-unchanged { color: $text-disabled; }
    """

    class Clicked(Message):
        """The user clicked the line of the run whose code is message `index`."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, index: int, record: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.record = record
        self._apply()

    def update_record(self, record: dict[str, Any]) -> None:
        self.record = record
        self._apply()

    def _apply(self) -> None:
        record = self.record
        failed = bool(record.get("error")) and not record.get("before")
        self.set_class(failed, "-no-checkpoint")
        self.set_class(bool(record.get("undone")), "-undone")
        counts = record.get("counts") or {}
        changed = sum(int(counts.get(key, 0)) for key in ("added", "modified", "deleted"))
        self.set_class(not failed and changed == 0 and not record.get("outside"), "-unchanged")
        text = Text("⎿ ", style="dim")
        if failed:
            text.append(terminal_safe(summary_line(record)))
        elif changed == 0:
            text.append("no files changed")
            if record.get("undone"):
                text.append(" · undone")
        else:
            text.append(summary_line(record))
            added, removed = counts.get("lines_added", 0), counts.get("lines_removed", 0)
            if added or removed:
                text.append(f" · +{added} −{removed} lines", style="dim")
        if not failed and (changed or record.get("outside")):
            text.append("   changes ▸", style="underline")
        self.update(text)
        self.tooltip = "Click for this run's changes, undo and rewind (f4 shows the last run's changes)"

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked(self.index))


class ReplayProgress(Static):
    """Rebuilding the Python kernel after a rewind: which block runs now, then how it ended."""

    DEFAULT_CSS = """
    ReplayProgress { height: auto; margin: 1 0 0 0; padding: 0 1; color: $accent; border-left: thick $accent; }
    ReplayProgress.-failed { color: $error; border-left: thick $error; }
    ReplayProgress.-finished { color: $success; border-left: thick $success; }
    """

    def show(self, done: int, total: int, state: str, detail: str) -> None:
        self.set_class(state == "failed", "-failed")
        self.set_class(state == "finished", "-finished")
        head = f"Rebuilding Python {done}/{total}" if state == "running" else "Python kernel"
        self.update(Text(f"⟳ {head}: ", style="bold").append(terminal_safe(detail), style=""))


__all__ = ["ReplayProgress", "RunChanges"]
