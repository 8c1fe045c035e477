"""What one run changed on disk: its files on the left, the selected file's diff on the right.

The list and the patch come from the shadow repository (`RunCheckpoints.changes` / `patch`, which run
git in a thread); the load runs in a worker that only posts `DiffLoaded`.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from oi_core.checkpoint_changes import FileChange
from oi_core.checkpoints import LIMITS, summary_line
from oi_core.errors import OiError
from oi_core.sanitize import terminal_safe

from ..widgets.key_footer import KeyFooter

#: Lines of one file's diff shown; the rest is cut with a note.
MAX_DIFF_LINES = 4000
STATUS_MARKS = {"added": "+", "modified": "~", "deleted": "-", "renamed": "→"}
_HEADER = re.compile(r"^diff --git (.*)$")


def split_patch(patch: str) -> dict[str, str]:
    """The unified diff of each file, keyed by its (new) path."""
    sections: dict[str, str] = {}
    current: list[str] = []
    path: str | None = None

    def close() -> None:
        if path is not None and current:
            sections[path] = "\n".join(current)

    for line in patch.splitlines():
        match = _HEADER.match(line)
        if match:
            close()
            current, path = [line], _path_of_header(match.group(1))
            continue
        if path is not None:
            if line.startswith("rename to "):
                path = line[len("rename to "):]
            current.append(line)
    close()
    return sections


def _path_of_header(rest: str) -> str:
    """`a/P b/P` -> P (quoted names are unquoted; for renames the "rename to" line corrects it)."""
    if rest.startswith('"'):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
        raw = codecs.escape_decode((parts[-1] if parts else rest).encode("utf-8"))[0]
        return bytes(raw).decode("utf-8", "replace")[2:]
    half = (len(rest) - 5) // 2
    return rest[2 : 2 + half] if half > 0 else rest


def render_diff(text: str) -> Text:
    """A diff as coloured text (added green, removed red, hunk headers cyan); control characters made visible."""
    rendered = Text(no_wrap=True, overflow="ignore")
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if number >= MAX_DIFF_LINES:
            rendered.append(f"… {len(lines) - MAX_DIFF_LINES} more lines not shown\n", style="dim italic")
            break
        safe = terminal_safe(line)
        if line.startswith("+++") or line.startswith("---") or line.startswith("diff --git"):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        rendered.append(safe + "\n", style=style)
    return rendered


class DiffScreen(Screen):
    """The changes of one recorded run."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="diff.close", tooltip="Back to the conversation"),
        Binding("f8", "undo", "Undo run", id="diff.undo", tooltip="Put back the files this run changed"),
    ]

    class DiffLoaded(Message):
        """The run's file list and patch arrived (or `error` says why not)."""

        def __init__(self, changes: list[FileChange], patch: str, error: str = "") -> None:
            super().__init__()
            self.changes = changes
            self.patch = patch
            self.error = error

    def __init__(self, client: Any, index: int, record: dict[str, Any], *, undoable: bool = False) -> None:
        super().__init__()
        self.client = client  # oi_core.client.CoreClient: the run may have happened on a server
        self.index = index
        self.record = record
        self.undoable = undoable  # this is the last run that can be undone
        self.changes: list[FileChange] = []
        self.sections: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        messages = self.client.state.messages
        language = str(messages[self.index].get("format") or "code") if self.index < len(messages) else "code"
        title = f"{language} block at message {self.index} · {summary_line(self.record)}"
        yield Label(terminal_safe(title), id="diff-title", markup=False)
        with Horizontal(id="diff-main"):
            yield OptionList(id="diff-files")
            with VerticalScroll(id="diff-body"):
                yield Static("Loading the changes…", id="diff-text")
        yield Label(self._limits_text(), id="diff-limits", markup=False)  # paths are foreign text
        yield KeyFooter()

    def _limits_text(self) -> str:
        text = LIMITS.format(root=self.record.get("root") or "the working directory")
        outside = self.record.get("outside") or []
        if outside:
            text = "Touched outside the working directory (not undone): " + ", ".join(outside[:8]) + ". " + text
        return terminal_safe(text)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._load()

    @work(exclusive=True, group="diff-load", exit_on_error=False)
    async def _load(self) -> None:
        try:
            changes, patch = await self.client.run_changes(self.record)
        except (OiError, OSError) as exc:
            self.post_message(self.DiffLoaded([], "", getattr(exc, "detail", None) or str(exc)))
            return
        except Exception as exc:  # the store is damaged: say so instead of failing silently
            self.post_message(self.DiffLoaded([], "", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.DiffLoaded(changes, patch))

    @on(DiffLoaded)
    def show_loaded(self, event: DiffLoaded) -> None:
        body = self.query_one("#diff-text", Static)
        if event.error:
            body.update(Text(f"The changes could not be read: {terminal_safe(event.error)}", style="bold red"))
            return
        if self.record.get("error") and not self.record.get("before"):
            body.update(Text(f"This run had no checkpoint: {terminal_safe(str(self.record['error']))}"))
            return
        self.changes = event.changes
        self.sections = split_patch(event.patch)
        files = self.query_one(OptionList)
        files.clear_options()
        if not event.changes:
            body.update("This run changed no files under the working directory.")
            return
        for number, change in enumerate(event.changes):
            mark = STATUS_MARKS.get(change.status, "~")
            lines = "binary" if change.added is None else f"+{change.added} −{change.removed}"
            label = Text(f"{mark} ", style="bold").append(terminal_safe(change.path)).append(f"  {lines}", style="dim")
            files.add_option(Option(label, id=f"file-{number}"))
        files.highlighted = 0

    @on(OptionList.OptionHighlighted, "#diff-files")
    def show_file(self, event: OptionList.OptionHighlighted) -> None:
        number = int(str(event.option.id).split("-", 1)[1])
        change = self.changes[number]
        section = self.sections.get(change.path)
        body = self.query_one("#diff-text", Static)
        head = f"{change.status}: {change.path}" + (f" (from {change.old_path})" if change.old_path else "")
        notes = [head] + ([change.note] if change.note else [])
        if not change.restorable:
            notes.append("Undo cannot put this file back.")
        text = Text("\n".join(terminal_safe(n) for n in notes) + "\n\n", style="bold")
        text.append_text(render_diff(section) if section else Text("(no text diff for this file)", style="dim"))
        body.update(text)
        self.query_one("#diff-body", VerticalScroll).scroll_home(animate=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "undo":
            return self.undoable
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_undo(self) -> None:
        self.dismiss("undo")


__all__ = ["DiffScreen", "render_diff", "split_patch"]
