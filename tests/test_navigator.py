"""The conversation navigator, driven with Pilot from a tiny host app, plus snapshots."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import nbformat
import pytest
from textual.app import App
from textual.widgets import Input

from oi_core.conversations import ConversationStore, atomic_write, encode_conversation, header_for
from oi_tui.screens.confirm import ConfirmScreen
from oi_tui.screens.navigator import NavigatorScreen
from oi_tui.widgets.conversation_dialogs import ConversationPromptDialog

SIZE = (110, 32)

FIXTURES = {
    "sine": ("2024-05-03T09:15:00+00:00", [
        {"role": "user", "type": "message", "content": "Plot a sine wave with matplotlib"},
        {"role": "assistant", "type": "message", "content": "Sure — I'll plot it with **numpy** and matplotlib."},
        {"role": "assistant", "type": "code", "format": "python", "content": "import numpy as np\nprint(np.sin(1.0))"},
        {"role": "computer", "type": "console", "format": "output", "content": "0.8414709848078965\n"},
        {"role": "assistant", "type": "message", "content": "The plot is ready."},
    ]),
    "csv": ("2024-05-02T18:40:00+00:00", [
        {"role": "user", "type": "message", "content": "Convert my CSV files to Excel"},
        {"role": "assistant", "type": "message", "content": "Use openpyxl for that; here is a script."},
    ]),
    "git": ("2024-04-28T07:05:00+00:00", [
        {"role": "user", "type": "message", "content": "Clean up merged git branches"},
        {"role": "assistant", "type": "code", "format": "shell", "content": "git branch --merged | grep -v main"},
        {"role": "computer", "type": "console", "format": "output", "content": "feature-a\nfeature-b\n"},
        {"role": "assistant", "type": "message", "content": "Two merged branches can go."},
    ]),
}


def write_fixed(store: ConversationStore, conversation_id: str, when: str, messages: list[dict]) -> None:
    store.ensure_dir()
    header = header_for(conversation_id, messages, created=when, updated=when)
    atomic_write(store.file_for(conversation_id), encode_conversation(header, messages))


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(tmp_path, utc) -> ConversationStore:
    store = ConversationStore(tmp_path / "conversations")
    for conversation_id, (when, messages) in FIXTURES.items():
        write_fixed(store, conversation_id, when, messages)
    return store


class Host(App):
    """Pushes the navigator and records what it dismissed with."""

    def __init__(self, store: ConversationStore, export_dir: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.export_dir = export_dir
        self.results: list[str | None] = []

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(NavigatorScreen(self.store, export_dir=self.export_dir), self.results.append)


async def settle(pilot) -> None:
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False  # deterministic snapshots
    for _ in range(3):
        await pilot.pause(0.12)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def listed(app: App) -> list[str]:
    return [info.id for info in app.screen.conversation_list.conversations]


def screen_text(app: App) -> str:
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


# ---------------------------------------------------------------- behaviour


async def test_lists_newest_first_and_previews_selection(store):
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NavigatorScreen)
        assert listed(app) == ["sine", "csv", "git"]
        assert screen.selected.id == "sine"
        assert "0.8414709848078965" in screen_text(app)
        await pilot.press("down", "down")  # focus the list, then move to "csv"
        await settle(pilot)
        assert screen.selected.id == "csv"
        assert "openpyxl" in screen_text(app)


async def test_search_filters_titles_fuzzily_and_contents(store):
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"excel")
        await settle(pilot)
        assert listed(app) == ["csv"]
        assert "1 of 3 match" in screen_text(app)
        search = app.screen.query_one("#navigator-search", Input)
        search.value = "gtbrnch"  # fuzzy: letters of "git branches" in order
        await settle(pilot)
        assert listed(app) == ["git"]
        search.value = "0.84147"  # only in a code output
        await settle(pilot)
        assert listed(app) == ["sine"]
        search.value = "nothing like this"
        await settle(pilot)
        assert listed(app) == []
        assert "No conversation matches your search." in screen_text(app)
        search.value = ""
        await settle(pilot)
        assert listed(app) == ["sine", "csv", "git"]


async def test_enter_dismisses_with_the_id(store):
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"merged")
        await settle(pilot)
        await pilot.press("enter")  # from the search box
        await pilot.pause()
        assert app.results == ["git"]
        assert not isinstance(app.screen, NavigatorScreen)


async def test_enter_from_the_list_and_escape(store):
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()
        assert app.results == ["git"]
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


async def test_delete_asks_for_confirmation(store):
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")  # "csv"
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Convert my CSV files to Excel" in str(app.screen.question)
        await pilot.press("enter")  # the focused button is Cancel: a stray Enter deletes nothing
        await pilot.pause()
        assert isinstance(app.screen, NavigatorScreen)
        assert store.exists("csv")
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert store.exists("csv")
        await pilot.press("f8")
        await pilot.pause(0.5)  # the confirm dialog ignores a "y" typed ahead of it (arming delay)
        await pilot.press("y")
        await settle(pilot)
        assert not store.exists("csv")
        assert listed(app) == ["sine", "git"]
        assert app.screen.selected.id == "git"
        assert "Deleted" in app.screen.last_notice


async def test_rename(store):
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, ConversationPromptDialog)
        assert app.screen.query_one(Input).value == "Plot a sine wave with matplotlib"
        await pilot.press("ctrl+u", *"Sine plot", "enter")
        await settle(pilot)
        assert isinstance(app.screen, NavigatorScreen)
        assert store.info("sine").title == "Sine plot"
        assert app.screen.selected.title == "Sine plot"
        await pilot.press("f2", "escape")  # cancelling changes nothing
        await pilot.pause()
        assert store.info("sine").title == "Sine plot"
        assert store.load("sine") == FIXTURES["sine"][1]


async def test_export_markdown_to_cwd(store, tmp_path, monkeypatch):
    out = tmp_path / "cwd"
    out.mkdir()
    monkeypatch.chdir(out)
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConversationPromptDialog)
        assert app.screen.query_one(Input).value == str(out / "plot-a-sine-wave-with-matplotlib.md")
        await pilot.press("enter")
        await pilot.pause()
        target = out / "plot-a-sine-wave-with-matplotlib.md"
        assert target.exists()
        assert "```python\nimport numpy as np" in target.read_text()
        assert str(target) in app.screen.last_notice


async def test_export_notebook_to_chosen_path(store, tmp_path):
    app = Host(store, export_dir=tmp_path)
    chosen = tmp_path / "elsewhere" / "git.ipynb"
    chosen.parent.mkdir()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "ctrl+b")
        await pilot.pause()
        app.screen.query_one(Input).value = str(chosen)
        await pilot.press("enter")
        await pilot.pause()
        notebook = nbformat.read(str(chosen), as_version=4)
        [code] = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code.source == "%%bash\ngit branch --merged | grep -v main"
        assert code.outputs[0].text == "feature-a\nfeature-b\n"
        assert str(chosen) in app.screen.last_notice


async def test_corrupt_files_are_named_not_listed(store):
    (store.path / "broken.json").write_text("{ this is not json")
    (store.path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # used to crash the listing
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert listed(app) == ["sine", "csv", "git"]
        text = screen_text(app)
        assert "broken.json" in text and "not valid JSON" in text
        assert "deep.json" in text and "nested too deeply" in text
    assert (store.path / "broken.json").read_text() == "{ this is not json"


async def test_long_conversation_preview_is_one_widget(tmp_path, utc):
    store = ConversationStore(tmp_path)
    messages = []
    for n in range(250):
        messages.append({"role": "user", "type": "message", "content": f"question {n}"})
        messages.append({"role": "assistant", "type": "message", "content": f"answer {n} " + "lorem ipsum " * 30})
    write_fixed(store, "long", "2024-05-01T00:00:00+00:00", messages)
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        started = time.perf_counter()
        await settle(pilot)
        assert time.perf_counter() - started < 3
        assert len(app.screen.query("#navigator-preview *")) <= 3
        text = screen_text(app)
        assert "420 earlier messages not shown" in text


# ---------------------------------------------------------------- text is text; the disk is off the UI thread


NASTY_TITLE = "Fix [/] and [x] in [link=http://evil.example]here[/link] \x1b]0;pwned\x07 [bold]now"


async def test_titles_are_plain_sanitised_text_everywhere(tmp_path, utc):
    store = ConversationStore(tmp_path / "c")
    write_fixed(store, "nasty", "2024-05-03T09:15:00+00:00", [
        {"role": "user", "type": "message", "content": NASTY_TITLE},
        {"role": "assistant", "type": "message", "content": "Done [x] \x1b[31mred\x1b[0m [/]"},
    ])
    (store.path / "[odd]\x1b[2J.json").write_text("{ not json [/]")
    app = Host(store, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Fix [/] and [x] in [link=http://evil.example]here[/link]" in text  # nothing vanished, no crash
        assert "\x1b" not in text and "pwned" not in text  # the title-setting escape is dropped, not obeyed
        assert "Done [x] red [/]" in text and "[odd].json" in text
        await pilot.press("f2")
        await pilot.pause()
        assert "[x]" in str(app.screen.query_one("#dialog-question").render()) or "[x]" in app.screen.query_one(Input).value
        await pilot.press("ctrl+u", *"[/] still [x]", "enter")
        await settle(pilot)
        assert store.info("nasty").title == "[/] still [x]"
        assert "[/] still [x]" in app.screen.last_notice and "[/] still [x]" in screen_text(app)
        await pilot.press("down", "delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Delete “[/] still [x]”" in screen_text(app)
        await pilot.press("n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Export “[/] still [x]” as Markdown to:" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()


class ThreadRecordingStore(ConversationStore):
    """A real store that notes which thread did each disk operation."""

    def __init__(self, path):
        super().__init__(path)
        self.threads: dict[str, set[int]] = {}

    def _note(self, name):
        import threading

        self.threads.setdefault(name, set()).add(threading.get_ident())

    def list(self):
        self._note("list")
        return super().list()

    def rename(self, *args):
        self._note("rename")
        return super().rename(*args)

    def delete(self, *args):
        self._note("delete")
        return super().delete(*args)

    def export_markdown(self, *args):
        self._note("export")
        return super().export_markdown(*args)

    def load(self, *args):
        self._note("load")
        return super().load(*args)


async def test_listing_rename_delete_and_export_run_off_the_ui_thread(tmp_path, utc):
    import threading

    store = ThreadRecordingStore(tmp_path / "c")
    for conversation_id, (when, messages) in FIXTURES.items():
        write_fixed(store, conversation_id, when, messages)
    app = Host(store, export_dir=tmp_path)
    ui_thread = threading.get_ident()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2", "ctrl+u", *"Renamed", "enter")
        await settle(pilot)
        await pilot.press("ctrl+s", "enter")
        await settle(pilot)
        await pilot.press("down", "down", "delete")
        await pilot.pause(0.5)
        await pilot.press("y")
        await settle(pilot)
        assert listed(app) == ["sine", "git"]
    assert store.info("sine").title == "Renamed" and (tmp_path / "renamed.md").exists()
    assert set(store.threads) == {"list", "rename", "delete", "export", "load"}
    for name, threads in store.threads.items():
        assert ui_thread not in threads, f"{name} ran on the UI thread"


async def test_a_slow_listing_leaves_the_screen_responsive(tmp_path, utc):
    class SlowStore(ConversationStore):
        def list(self):
            time.sleep(1.5)
            return super().list()

    store = SlowStore(tmp_path / "c")
    write_fixed(store, "sine", *FIXTURES["sine"])
    app = Host(store)
    async with app.run_test(size=SIZE) as pilot:
        started = time.perf_counter()
        await pilot.pause(0.1)
        await pilot.press(*"sine")
        assert app.screen.query_one("#navigator-search", Input).value == "sine"
        assert time.perf_counter() - started < 1.2  # typing did not wait for the disk
        assert "Reading…" in screen_text(app)
        await settle(pilot)
        await pilot.pause(1.6)
        await settle(pilot)
        assert listed(app) == ["sine"]


async def test_failures_in_workers_are_told(tmp_path, utc):
    store = ConversationStore(tmp_path / "c")
    for conversation_id, (when, messages) in FIXTURES.items():
        write_fixed(store, conversation_id, when, messages)
    app = Host(store, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        store.file_for("sine").unlink()  # gone behind the navigator's back
        await pilot.press("f2", "ctrl+u", *"New name", "enter")
        await settle(pilot)
        assert app.screen.last_notice.startswith("Could not rename: no conversation 'sine'")
        await pilot.press("down", "down", "ctrl+s")  # "csv"
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "missing-folder" / "x.md")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.last_notice.startswith("Could not export:")
        assert any(n.severity == "error" for n in app._notifications)


# ---------------------------------------------------------------- snapshots


def test_snapshot_navigator(store, snap_compare):
    (store.path / "broken.json").write_text("{ this is not json")
    assert snap_compare(Host(store), terminal_size=SIZE, run_before=settle)


def test_snapshot_navigator_search(store, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*"excel")
        await settle(pilot)

    assert snap_compare(Host(store), terminal_size=SIZE, run_before=run_before)


def test_snapshot_navigator_delete_confirmation(store, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "delete")
        await settle(pilot)

    assert snap_compare(Host(store), terminal_size=SIZE, run_before=run_before)


def test_snapshot_navigator_empty(tmp_path, utc, snap_compare):
    assert snap_compare(Host(ConversationStore(tmp_path / "none")), terminal_size=SIZE, run_before=settle)
