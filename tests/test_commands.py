"""The command palette provider: what it offers in which state, and that choosing an entry runs the action."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.command import CommandPalette
from textual.widgets import Static

from oi_tui.commands import OiCommands, palette_commands

ALL_ACTIONS = (
    "new_conversation",
    "open_conversations",
    "switch_profile",
    "toggle_auto_run",
    "stop",
    "export_markdown",
    "open_profile_dir",
    "set_api_key",
)


class Host(App[None]):
    """A stand-in for the real app: records which actions ran."""

    COMMANDS = App.COMMANDS | {OiCommands}

    def __init__(self, busy: bool = False) -> None:
        super().__init__()
        self.busy = busy
        self.auto_run = False
        self.profile_name = "default"
        self.ran: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("host")

    def action_new_conversation(self) -> None:
        self.ran.append("new_conversation")

    def action_open_conversations(self) -> None:
        self.ran.append("open_conversations")

    def action_switch_profile(self) -> None:
        self.ran.append("switch_profile")

    def action_toggle_auto_run(self) -> None:
        self.auto_run = not self.auto_run
        self.ran.append("toggle_auto_run")

    def action_stop(self) -> None:
        self.ran.append("stop")

    def action_export_markdown(self) -> None:
        self.ran.append("export_markdown")

    def action_open_profile_dir(self) -> None:
        self.ran.append("open_profile_dir")

    def action_set_api_key(self) -> None:
        self.ran.append("set_api_key")


class PartialHost(App[None]):
    """An app that defines only some of the actions."""

    COMMANDS = App.COMMANDS | {OiCommands}

    def action_new_conversation(self) -> None:
        pass


def titles(app: App) -> list[str]:
    return [command.title for command in palette_commands(app)]


def test_stop_only_while_busy() -> None:
    assert "Stop" not in titles(Host(busy=False))
    assert titles(Host(busy=True))[0] == "Stop"


def test_every_command_is_offered_when_the_app_supports_it() -> None:
    assert titles(Host(busy=True)) == [
        "Stop",
        "New conversation",
        "Conversations…",
        "Switch profile…",
        "Theme…",
        "Toggle auto-run",
        "Export conversation to Markdown",
        "Open profile folder",
        "Set API key…",
    ]


def test_missing_actions_are_hidden() -> None:
    # change_theme comes with every Textual app
    assert titles(PartialHost()) == ["New conversation", "Theme…"]


def test_help_shows_the_auto_run_state_and_profile() -> None:
    app = Host()
    helps = {command.title: command.help for command in palette_commands(app)}
    assert "OFF" in helps["Toggle auto-run"]
    assert "current: default" in helps["Switch profile…"]
    app.auto_run = True
    helps = {command.title: command.help for command in palette_commands(app)}
    assert "ON" in helps["Toggle auto-run"]


async def collect(provider: OiCommands, query: str | None = None) -> list:
    hits = provider.discover() if query is None else provider.search(query)
    return [hit async for hit in hits]


@pytest.mark.parametrize("busy", [False, True])
async def test_provider_discover_and_search(busy: bool) -> None:
    app = Host(busy=busy)
    async with app.run_test():
        provider = OiCommands(app.screen)
        discovered = [hit.text for hit in await collect(provider)]
        assert "New conversation" in discovered and "Set API key…" in discovered
        assert ("Stop" in discovered) is busy

        found = await collect(provider, "export")
        assert [hit.text for hit in found] == ["Export conversation to Markdown"]
        assert found[0].score > 0 and found[0].help

        stop_hits = [hit.text for hit in await collect(provider, "stop")]
        assert ("Stop" in stop_hits) is busy
        assert await collect(provider, "zzzz-nothing") == []


async def run_from_palette(app: Host, query: str) -> None:
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert CommandPalette.is_open(app)
        await pilot.press(*query)
        await pilot.pause(0.3)  # the palette searches in the background
        await pilot.press("enter")
        await pilot.pause()
        assert not CommandPalette.is_open(app)


@pytest.mark.parametrize(
    ("query", "action"),
    [
        ("new conversation", "new_conversation"),
        ("export", "export_markdown"),
        ("auto-run", "toggle_auto_run"),
        ("api key", "set_api_key"),
        ("profile folder", "open_profile_dir"),
    ],
)
async def test_choosing_a_command_runs_the_app_action(query: str, action: str) -> None:
    app = Host()
    await run_from_palette(app, query)
    assert app.ran == [action]


async def test_stop_from_the_palette_while_busy() -> None:
    app = Host(busy=True)
    await run_from_palette(app, "stop")
    assert app.ran == ["stop"]


async def test_real_app_offers_theme_once(make_interpreter, monkeypatch):
    """Textual's own Theme entry and ours run the same action; the palette lists only ours."""
    from oi_tui.app import OiApp

    monkeypatch.setenv("OI_TUI_THEME", "textual-dark")
    monkeypatch.setattr("oi_core.session.Session.warm_up", lambda self: None)
    app = OiApp(make_interpreter())
    async with app.run_test():
        system_titles = [command.title for command in app.get_system_commands(app.screen)]
        ours = [command.title for command in palette_commands(app)]
    assert "Theme" not in system_titles and "Quit" in system_titles
    assert ours.count("Theme…") == 1
