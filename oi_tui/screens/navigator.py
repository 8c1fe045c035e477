"""The conversation navigator: browse, search, preview, resume, rename, delete and export saved chats.

    app.push_screen(NavigatorScreen(store), callback)   # callback(conversation_id | None)

The screen dismisses with the id of the conversation to resume, or None. It never touches an interpreter;
the caller resumes with `oi_core.conversations.aresume(interpreter, id, store)`.

Every disk access (listing, search, preview, rename, delete, export) runs in a thread worker that only posts
a message; the handlers below own the widgets. Expected failures come back as `NavigatorActionFailed`;
anything else reaches `worker_failed`, so no failure is silent. Text from conversations (titles, snippets,
file names, reasons) is shown as plain text, never as markup.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import RenderableType
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.worker import Worker, WorkerState, get_current_worker

from oi_core.conversations import ConversationError, ConversationInfo, ConversationProblem, ConversationStore
from oi_core.sanitize import terminal_safe
from oi_tui.screens.confirm import ConfirmScreen
from oi_tui.widgets.conversation_dialogs import ConversationPromptDialog
from oi_tui.widgets.conversation_list import ConversationList
from oi_tui.widgets.conversation_preview import ConversationPreview, preview_renderable
from oi_tui.widgets.key_footer import KeyFooter

SEARCH_DEBOUNCE = 0.08  # seconds a keystroke waits for the next before searching
EXPECTED = (ConversationError, OSError, ValueError)  # failures a worker reports as one sentence


def export_slug(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
    return slug[:60] or "conversation"


def export_target(target: str, folder: Path, default_name: str) -> Path:
    """Where an export typed as `target` goes: a folder gets the default name; a relative path is under `folder`."""
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = folder / path
    if path.is_dir():
        path = path / default_name
    return path


class NavigatorScreen(Screen[str | None]):
    """Saved conversations. Dismisses with the id to resume, or None."""

    CSS_PATH = "navigator.tcss"
    AUTO_FOCUS = "#navigator-search"
    BINDINGS = [
        Binding("enter", "resume", "Resume", id="navigator.resume", priority=True),
        Binding("escape", "close", "Back", id="navigator.close"),
        Binding("f2", "rename", "Rename", id="navigator.rename"),
        Binding("delete,f8", "delete", "Delete", id="navigator.delete"),
        Binding("ctrl+s", "export_markdown", "Export .md", id="navigator.export_markdown"),
        Binding("ctrl+b", "export_notebook", "Export .ipynb", id="navigator.export_notebook"),
        Binding("down", "focus_list", "List", show=False, id="navigator.focus_list"),
    ]

    # ------------------------------------------------------------ what the workers report

    @dataclass
    class ConversationsListed(Message):
        """The folder was read: every readable conversation, and the files skipped."""

        conversations: list[ConversationInfo]
        problems: list[ConversationProblem]
        keep: str | None
        highlight_index: int | None

    @dataclass
    class SearchFinished(Message):
        query: str
        results: list[ConversationInfo]
        keep: str | None

    @dataclass
    class PreviewLoaded(Message):
        conversation_id: str
        renderable: RenderableType

    @dataclass
    class ConversationRenamed(Message):
        info: ConversationInfo

    @dataclass
    class ConversationDeleted(Message):
        info: ConversationInfo
        index: int

    @dataclass
    class ConversationExported(Message):
        path: Path

    @dataclass
    class NavigatorActionFailed(Message):
        """A worker met an expected failure (disk, corrupt file, bad name): one sentence for the user."""

        message: str

    def __init__(self, store: ConversationStore | None = None, *, export_dir: str | Path | None = None,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.store = store or ConversationStore()
        self.export_dir = Path(export_dir) if export_dir else None
        self.all_conversations: list[ConversationInfo] = []
        self.query_text = ""
        self.last_notice = ""
        self.loaded = False
        self._preview_id: str | None = None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="navigator-top"):
            yield Static("Conversations", id="navigator-title")
            yield Static("Reading…", id="navigator-count")
        yield Input(placeholder="Search titles and contents…", id="navigator-search")
        with Horizontal(id="navigator-body"):
            with Vertical(id="navigator-left"):
                yield ConversationList(id="navigator-list")
                yield Static("", id="navigator-empty")
                yield Static("", id="navigator-problems", markup=False)
            yield ConversationPreview(id="navigator-preview")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#navigator-preview").border_title = "Preview"
        self.query_one("#navigator-empty", Static).display = False
        self.query_one("#navigator-problems", Static).display = False
        self.reload()

    @property
    def conversation_list(self) -> ConversationList:
        return self.query_one("#navigator-list", ConversationList)

    @property
    def selected(self) -> ConversationInfo | None:
        return self.conversation_list.selected

    # ------------------------------------------------------------ loading and searching

    def reload(self, keep: str | None = None, highlight_index: int | None = None) -> None:
        """Re-read the listing in a worker (the store keeps an index), then re-apply the search."""
        self._list_worker(keep, highlight_index)

    @work(thread=True, exclusive=True, group="listing", exit_on_error=False)
    def _list_worker(self, keep: str | None, highlight_index: int | None) -> None:
        try:
            infos = self.store.list()
        except EXPECTED as exc:
            self.post_message(self.NavigatorActionFailed(f"Could not read {self.store.path}: {exc}"))
            infos = []
        self.post_message(self.ConversationsListed(infos, list(self.store.problems), keep, highlight_index))

    @on(ConversationsListed)
    def conversations_listed(self, event: ConversationsListed) -> None:
        self.loaded = True
        self.all_conversations = event.conversations
        self._show_problems(event.problems)
        if self.query_text:
            self._run_search(self.query_text, keep=event.keep, delay=0)
        else:
            self._show(self.all_conversations, event.keep)
        if event.highlight_index is not None and self.conversation_list.option_count:
            self.conversation_list.highlighted = min(event.highlight_index, self.conversation_list.option_count - 1)

    def _show(self, infos: list[ConversationInfo], keep: str | None = None) -> None:
        listing = self.conversation_list
        listing.set_conversations(infos, keep=keep or (self.selected.id if self.selected else None))
        total = len(self.all_conversations)
        if self.query_text:
            count = f"{len(infos)} of {total} match"
        else:
            count = f"{total} conversation{'s' if total != 1 else ''}"
        self.query_one("#navigator-count", Static).update(count)
        empty = self.query_one("#navigator-empty", Static)
        listing.display = bool(infos)
        if infos:
            empty.display = False
        else:
            empty.display = True
            empty.update("No conversation matches your search." if self.query_text else "No saved conversations yet.")
        self._preview_selected()

    def _show_problems(self, problems: list[ConversationProblem]) -> None:
        widget = self.query_one("#navigator-problems", Static)
        if not problems:
            widget.display = False
            return
        lines = [f"{len(problems)} file{'s' if len(problems) != 1 else ''} skipped (left untouched):"]
        lines += [terminal_safe(f"• {problem.path.name}: {problem.reason}") for problem in problems[:5]]
        if len(problems) > 5:
            lines.append(terminal_safe(f"… and {len(problems) - 5} more in {self.store.path}"))
        widget.update(Content("\n".join(lines)))
        widget.display = True

    @on(Input.Changed, "#navigator-search")
    def search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        if not self.loaded:
            return  # the listing applies the search when it arrives
        if not self.query_text:
            self.workers.cancel_group(self, "search")
            self._show(self.all_conversations)
        else:
            self._run_search(self.query_text)

    @on(Input.Submitted, "#navigator-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_resume()

    def _run_search(self, query: str, keep: str | None = None, delay: float = SEARCH_DEBOUNCE) -> None:
        self._search_worker(query, list(self.all_conversations), keep, delay)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search_worker(self, query: str, infos: list[ConversationInfo], keep: str | None, delay: float) -> None:
        worker = get_current_worker()
        if delay:
            time.sleep(delay)
        if worker.is_cancelled:
            return
        results = self.store.search(query, infos)
        if not worker.is_cancelled:
            self.post_message(self.SearchFinished(query, results, keep))

    @on(SearchFinished)
    def search_finished(self, event: SearchFinished) -> None:
        if event.query == self.query_text:
            self._show(event.results, event.keep)

    # ------------------------------------------------------------ preview

    @on(OptionList.OptionHighlighted, "#navigator-list")
    def highlighted(self) -> None:
        self._preview_selected()

    @on(OptionList.OptionSelected, "#navigator-list")
    def clicked(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # a click only selects; Enter resumes

    def _preview_selected(self) -> None:
        info = self.selected
        preview = self.query_one(ConversationPreview)
        if info is None:
            self._preview_id = None
            preview.show("")
            return
        if info.id == self._preview_id:
            return
        self._preview_id = info.id
        self._load_preview(info)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _load_preview(self, info: ConversationInfo) -> None:
        worker = get_current_worker()
        try:
            messages = self.store.load(info.id)
            renderable: RenderableType = preview_renderable(info.title, messages)
        except ConversationError as exc:
            renderable = Content(terminal_safe(f"This conversation cannot be shown: {exc}"))
        except OSError as exc:
            renderable = Content(terminal_safe(f"Could not read {info.path}: {exc}"))
        if not worker.is_cancelled:
            self.post_message(self.PreviewLoaded(info.id, renderable))

    @on(PreviewLoaded)
    def preview_loaded(self, event: PreviewLoaded) -> None:
        if event.conversation_id == self._preview_id:
            self.query_one(ConversationPreview).show(event.renderable)

    # ------------------------------------------------------------ actions

    def _notice(self, message: str, severity: str = "information") -> None:
        self.last_notice = message
        self.notify(terminal_safe(message), severity=severity, markup=False)  # type: ignore[arg-type]

    @on(NavigatorActionFailed)
    def action_failed(self, event: NavigatorActionFailed) -> None:
        self._notice(event.message, severity="error")

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place an unexpected worker failure is reported."""
        if event.state == WorkerState.ERROR and event.worker.node is self:
            error = event.worker.error
            self._notice(f"Something went wrong in the navigator ({event.worker.group}): "
                         f"{type(error).__name__}: {error}", severity="error")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_resume(self) -> None:
        info = self.selected
        if info is not None:
            self.dismiss(info.id)

    def action_focus_list(self) -> None:
        self.conversation_list.focus()

    def action_focus_search(self) -> None:
        self.query_one("#navigator-search", Input).focus()

    def action_rename(self) -> None:
        info = self.selected
        if info is None:
            return

        def done(title: str | None) -> None:
            if title and title != info.title:
                self._rename_worker(info, title)

        self.app.push_screen(ConversationPromptDialog("Rename conversation", info.title, ok="Rename"), done)

    @work(thread=True, group="rename", exit_on_error=False)
    def _rename_worker(self, info: ConversationInfo, title: str) -> None:
        try:
            renamed = self.store.rename(info.id, title)
        except EXPECTED as exc:
            self.post_message(self.NavigatorActionFailed(f"Could not rename: {exc}"))
            return
        self.post_message(self.ConversationRenamed(renamed))

    @on(ConversationRenamed)
    def conversation_renamed(self, event: ConversationRenamed) -> None:
        self._notice(f"Renamed to “{event.info.title}”")
        self._preview_id = None
        self.reload(keep=event.info.id)

    def action_delete(self) -> None:
        info = self.selected
        if info is None:
            return
        index = self.conversation_list.highlighted or 0

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._delete_worker(info, index)

        question = f"Delete “{terminal_safe(info.title)}” ({info.message_count} messages)? This cannot be undone."
        self.app.push_screen(ConfirmScreen(Content(question), yes="Delete", no="Cancel"), done)  # type: ignore[arg-type]

    @work(thread=True, group="delete", exit_on_error=False)
    def _delete_worker(self, info: ConversationInfo, index: int) -> None:
        try:
            self.store.delete(info.id)
        except EXPECTED as exc:
            self.post_message(self.NavigatorActionFailed(f"Could not delete: {exc}"))
            return
        self.post_message(self.ConversationDeleted(info, index))

    @on(ConversationDeleted)
    def conversation_deleted(self, event: ConversationDeleted) -> None:
        self._notice(f"Deleted “{event.info.title}”")
        self._preview_id = None
        self.reload(highlight_index=event.index)

    def action_export_markdown(self) -> None:
        self._export("Markdown", ".md")

    def action_export_notebook(self) -> None:
        self._export("Jupyter notebook", ".ipynb")

    def _export(self, kind: str, suffix: str) -> None:
        info = self.selected
        if info is None:
            return
        folder = self.export_dir or Path.cwd()
        default = folder / f"{export_slug(info.title)}{suffix}"

        def done(target: str | None) -> None:
            if target:
                self._export_worker(info, target, folder, default.name, suffix)

        question = f"Export “{info.title}” as {kind} to:"
        self.app.push_screen(ConversationPromptDialog(question, str(default), ok="Export"), done)

    @work(thread=True, group="export", exit_on_error=False)
    def _export_worker(self, info: ConversationInfo, target: str, folder: Path, default_name: str, suffix: str) -> None:
        try:
            path = export_target(target, folder, default_name)
            if suffix == ".md":
                written = self.store.export_markdown(info.id, path)
            else:
                written = self.store.export_notebook(info.id, path)
        except EXPECTED as exc:
            self.post_message(self.NavigatorActionFailed(f"Could not export: {exc}"))
            return
        self.post_message(self.ConversationExported(written))

    @on(ConversationExported)
    def conversation_exported(self, event: ConversationExported) -> None:
        self._notice(f"Exported to {event.path}")
