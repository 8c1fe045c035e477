"""The conversation navigator: browse, search, preview, resume, rename, delete and export saved chats.

    app.push_screen(NavigatorScreen(store), callback)   # callback(conversation_id | None)

The screen dismisses with the id of the conversation to resume, or None. It never touches an interpreter;
the caller resumes with `oi_core.conversations.resume(interpreter, id, store)`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.worker import get_current_worker

from oi_core.conversations import ConversationError, ConversationInfo, ConversationStore
from oi_tui.widgets.conversation_dialogs import ConversationConfirmDialog, ConversationPromptDialog
from oi_tui.widgets.conversation_list import ConversationList
from oi_tui.widgets.conversation_preview import ConversationPreview, preview_renderable

SEARCH_DEBOUNCE = 0.08  # seconds a keystroke waits for the next before searching


def export_slug(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
    return slug[:60] or "conversation"


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

    def __init__(self, store: ConversationStore | None = None, *, export_dir: str | Path | None = None,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.store = store or ConversationStore()
        self.export_dir = Path(export_dir) if export_dir else None
        self.all_conversations: list[ConversationInfo] = []
        self.query_text = ""
        self.last_notice = ""
        self._preview_id: str | None = None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="navigator-top"):
            yield Static("Conversations", id="navigator-title")
            yield Static("", id="navigator-count")
        yield Input(placeholder="Search titles and contents…", id="navigator-search")
        with Horizontal(id="navigator-body"):
            with Vertical(id="navigator-left"):
                yield ConversationList(id="navigator-list")
                yield Static("", id="navigator-empty")
                yield Static("", id="navigator-problems")
            yield ConversationPreview(id="navigator-preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#navigator-preview").border_title = "Preview"
        self.reload()

    @property
    def conversation_list(self) -> ConversationList:
        return self.query_one("#navigator-list", ConversationList)

    @property
    def selected(self) -> ConversationInfo | None:
        return self.conversation_list.selected

    # ------------------------------------------------------------ loading and searching

    def reload(self, keep: str | None = None) -> None:
        """Re-read the listing (fast: the store keeps an index) and re-apply the search."""
        try:
            self.all_conversations = self.store.list()
        except OSError as exc:
            self.all_conversations = []
            self._notice(f"Could not read {self.store.path}: {exc}", severity="error")
        self._show_problems()
        if self.query_text:
            self._run_search(self.query_text, keep=keep, delay=0)
        else:
            self._show(self.all_conversations, keep)

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

    def _show_problems(self) -> None:
        widget = self.query_one("#navigator-problems", Static)
        problems = self.store.problems
        if not problems:
            widget.display = False
            return
        lines = [f"{len(problems)} file{'s' if len(problems) != 1 else ''} skipped (left untouched):"]
        lines += [f"• {problem.path.name}: {problem.reason}" for problem in problems[:5]]
        if len(problems) > 5:
            lines.append(f"… and {len(problems) - 5} more in {self.store.path}")
        widget.update("\n".join(lines))
        widget.display = True

    @on(Input.Changed, "#navigator-search")
    def search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
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

    @work(thread=True, exclusive=True, group="search")
    def _search_worker(self, query: str, infos: list[ConversationInfo], keep: str | None, delay: float) -> None:
        worker = get_current_worker()
        if delay:
            time.sleep(delay)
        if worker.is_cancelled:
            return
        results = self.store.search(query, infos)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._search_done, query, results, keep)

    def _search_done(self, query: str, results: list[ConversationInfo], keep: str | None) -> None:
        if query == self.query_text:
            self._show(results, keep)

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

    @work(thread=True, exclusive=True, group="preview")
    def _load_preview(self, info: ConversationInfo) -> None:
        worker = get_current_worker()
        try:
            messages = self.store.load(info.id)
            renderable = preview_renderable(info.title, messages)
        except ConversationError as exc:
            renderable = f"This conversation cannot be shown: {exc}"
        except OSError as exc:
            renderable = f"Could not read {info.path}: {exc}"
        if not worker.is_cancelled:
            self.app.call_from_thread(self._preview_done, info.id, renderable)

    def _preview_done(self, conversation_id: str, renderable) -> None:
        if conversation_id == self._preview_id:
            self.query_one(ConversationPreview).show(renderable)

    # ------------------------------------------------------------ actions

    def _notice(self, message: str, severity: str = "information") -> None:
        self.last_notice = message
        self.notify(message, severity=severity)  # type: ignore[arg-type]

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
            if not title or title == info.title:
                return
            try:
                self.store.rename(info.id, title)
            except (ConversationError, ValueError, OSError) as exc:
                self._notice(f"Could not rename: {exc}", severity="error")
                return
            self._notice(f"Renamed to “{title}”")
            self._preview_id = None
            self.reload(keep=info.id)

        self.app.push_screen(ConversationPromptDialog("Rename conversation", info.title, ok="Rename"), done)

    def action_delete(self) -> None:
        info = self.selected
        if info is None:
            return

        def done(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                self.store.delete(info.id)
            except (ConversationError, OSError) as exc:
                self._notice(f"Could not delete: {exc}", severity="error")
                return
            self._notice(f"Deleted “{info.title}”")
            index = self.conversation_list.highlighted or 0
            self._preview_id = None
            self.reload()
            listing = self.conversation_list
            if listing.option_count:
                listing.highlighted = min(index, listing.option_count - 1)

        question = f"Delete “{info.title}” ({info.message_count} messages)? This cannot be undone."
        self.app.push_screen(ConversationConfirmDialog(question, yes="Delete"), done)

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
            if not target:
                return
            path = Path(target).expanduser()
            if path.is_dir():
                path = path / default.name
            if not path.is_absolute():
                path = folder / path
            try:
                if suffix == ".md":
                    written = self.store.export_markdown(info.id, path)
                else:
                    written = self.store.export_notebook(info.id, path)
            except (ConversationError, OSError, ValueError) as exc:
                self._notice(f"Could not export: {exc}", severity="error")
                return
            self._notice(f"Exported to {written}")

        self.app.push_screen(ConversationPromptDialog(f"Export “{info.title}” as {kind} to:", str(default), ok="Export"), done)
