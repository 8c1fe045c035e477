"""First-run setup: when it is needed, the screen's flows, where the key goes, and that it never shows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import keyring
import pytest
from keyring.backends import fail
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from oi_core import secrets
from oi_tui.screens.setup import SetupResult, SetupScreen, apply_setup, needs_setup
from oi_tui.themes import load_themes

SECRET = "sk-test-DO-NOT-SHOW-8f3a91c2d7"
KEY_VARS = tuple(getattr(secrets, "PROVIDER_ENV", {}).values())


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private keyring file and no provider keys in the environment."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    session_keys = getattr(secrets, "_session_keys", None)
    if session_keys is not None:
        session_keys.clear()
    yield
    if session_keys is not None:
        session_keys.clear()


def fake_interpreter(model: str = "gpt-4o", api_base: str | None = None, api_key: str | None = None):
    return SimpleNamespace(llm=SimpleNamespace(model=model, api_base=api_base, api_key=api_key))


# ------------------------------------------------------------------ needs_setup / apply_setup


def test_needs_setup_for_a_cloud_model_without_a_key() -> None:
    assert needs_setup(fake_interpreter("gpt-4o"))
    assert needs_setup(fake_interpreter("anthropic/claude-sonnet-4-20250514"))
    assert needs_setup(fake_interpreter(""))


def test_no_setup_when_a_key_or_server_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not needs_setup(fake_interpreter("gpt-4o", api_key="sk-x"))
    assert not needs_setup(fake_interpreter("openai/local", api_base="http://localhost:1234/v1"))
    assert not needs_setup(fake_interpreter("ollama/llama3.1"))  # no key needed
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    assert not needs_setup(fake_interpreter("claude-3-haiku"))
    keyring.set_password("oi-tui", "openai", SECRET)
    assert not needs_setup(fake_interpreter("gpt-4o"))


def test_needs_setup_on_a_real_interpreter() -> None:
    from oi_core import OpenInterpreter

    interpreter = OpenInterpreter()
    try:
        interpreter.llm.model = "gpt-4o"
        interpreter.llm.api_base = None
        interpreter.llm.api_key = None
        assert needs_setup(interpreter)
        interpreter.llm.api_base = "http://localhost:11434"
        assert not needs_setup(interpreter)
    finally:
        interpreter.terminate()


def test_apply_cloud_result_stores_the_key_in_the_keyring() -> None:
    interpreter = fake_interpreter("something/else", api_base="http://old")
    result = SetupResult(model="gpt-4o-mini", api_base=None, api_key=SECRET, provider="openai")
    message = apply_setup(interpreter, result)
    assert keyring.get_password("oi-tui", "openai") == SECRET
    assert interpreter.llm.model == "gpt-4o-mini" and interpreter.llm.api_base is None
    assert interpreter.llm.api_key is None  # the keyring holds it, not the settings
    assert SECRET not in message and "keyring" in message
    assert SECRET not in repr(result)
    assert not needs_setup(interpreter)


def test_apply_without_a_keyring_keeps_the_key_for_the_session() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        interpreter = fake_interpreter()
        message = apply_setup(interpreter, SetupResult("gpt-4o", None, SECRET, "openai"))
    finally:
        keyring.set_keyring(previous)
    assert "session only" in message and SECRET not in message
    assert interpreter.llm.api_key == SECRET
    assert not needs_setup(interpreter)


def test_apply_local_server_result() -> None:
    interpreter = fake_interpreter()
    message = apply_setup(interpreter, SetupResult("ollama/llama3.1", "http://localhost:11434", None, "ollama"))
    assert (interpreter.llm.model, interpreter.llm.api_base) == ("ollama/llama3.1", "http://localhost:11434")
    assert "ollama/llama3.1" in message
    assert keyring.get_password("oi-tui", "openai") is None


def test_a_custom_server_key_does_not_replace_the_providers_key() -> None:
    interpreter = fake_interpreter()
    message = apply_setup(interpreter, SetupResult("openai/m", "https://llm.example/v1", SECRET, "custom"))
    assert keyring.get_password("oi-tui", "openai") is None
    assert keyring.get_password("oi-tui", secrets.server_entry("https://llm.example/v1")) == SECRET
    assert interpreter.llm.api_key is None  # the keyring holds it
    assert secrets.lookup_api_key("openai/m", api_base="https://llm.example/v1") == SECRET
    assert SECRET not in message and "keyring" in message


def test_setup_is_kept_for_the_next_start(llm_server) -> None:
    """Saving writes the model and server to the default profile: a restart needs no setup (key not in the file)."""
    from oi_core.profiles import load_profile, profile_dir
    from oi_tui import cli

    message = apply_setup(fake_interpreter(), SetupResult("openai/test-model", llm_server.url, SECRET, "custom"))
    assert "default profile" in message and SECRET not in message
    default = profile_dir() / "default.yaml"
    text = default.read_text()
    assert SECRET not in text and "# Keep API keys out of profiles" in text  # comments kept
    assert load_profile("default").settings["llm.model"] == "openai/test-model"
    interpreter, warnings = cli.make_interpreter(cli.build_parser().parse_args([]))
    try:
        assert warnings == []
        assert (interpreter.llm.model, interpreter.llm.api_base) == ("openai/test-model", llm_server.url)
        assert interpreter.llm.resolved_api_key() == SECRET
        assert not needs_setup(interpreter)
    finally:
        interpreter.terminate()


def test_a_profile_that_cannot_be_written_keeps_the_choice_for_the_session() -> None:
    from oi_core.profiles import profile_dir

    default = profile_dir() / "default.yaml"
    default.write_text("llm:\n  model: |\n    gpt-4o\n")  # a block scalar: not edited for the user
    interpreter = fake_interpreter()
    message = apply_setup(interpreter, SetupResult("ollama/llama3.1", "http://localhost:11434", None, "ollama"))
    assert interpreter.llm.model == "ollama/llama3.1"
    assert "applies to this session only" in message and "line 2" in message
    assert default.read_text() == "llm:\n  model: |\n    gpt-4o\n"


# ------------------------------------------------------------------ the screen


class Host(App[None]):
    """Shows the setup screen on start, like the real app on first run, and keeps the result."""

    def __init__(self, theme_name: str | None = None, **screen_args) -> None:
        super().__init__()
        self.theme_name = theme_name
        self.screen_args = screen_args
        self.results: list[SetupResult | None] = []

    def compose(self) -> ComposeResult:
        yield Static("main screen")

    def on_mount(self) -> None:
        if self.theme_name:
            for theme in load_themes()[0]:
                self.register_theme(theme)
            self.theme = self.theme_name
        self.push_screen(SetupScreen(**self.screen_args), self.results.append)


async def test_choose_a_local_server() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#choice-custom")
        await pilot.click("#setup-url")
        await pilot.press(*"http://127.0.0.1:9999/v1/")
        await pilot.click("#setup-model")
        await pilot.press(*"qwen/qwen3-8b")
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [SetupResult("openai/qwen/qwen3-8b", "http://127.0.0.1:9999/v1", None, "custom")]


async def test_ollama_is_prefilled() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#choice-ollama")
        assert app.screen.query_one("#setup-url", Input).value == "http://localhost:11434"
        await pilot.click("#setup-save")
        await pilot.pause()
    assert app.results == [SetupResult("ollama/llama3.1", "http://localhost:11434", None, "ollama")]


async def test_openai_key_goes_to_the_keyring_and_is_never_shown() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#setup-key")
        await pilot.press(*SECRET)
        await pilot.pause()
        key_input = app.screen.query_one("#setup-key", Input)
        assert key_input.password and key_input.value == SECRET
        screenshot = app.export_screenshot()
        assert SECRET not in screenshot and SECRET[-8:] not in screenshot
        await pilot.press("enter")
        await pilot.pause()
        assert SECRET not in app.export_screenshot()
    [result] = app.results
    assert result == SetupResult("gpt-4o", None, SECRET, "openai")
    interpreter = fake_interpreter()
    apply_setup(interpreter, result)
    assert keyring.get_password("oi-tui", "openai") == SECRET


async def test_a_missing_key_is_explained_not_accepted() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#choice-anthropic")
        await pilot.click("#setup-save")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        status = app.screen.query_one("#setup-status", Static)
        assert "Enter your Anthropic API key" in str(status.render())
        assert app.results == []


async def test_an_environment_key_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        assert "OPENAI_API_KEY is set" in str(app.screen.query_one("#setup-hint", Static).render())
        await pilot.click("#setup-save")
        await pilot.pause()
        assert SECRET not in app.export_screenshot()
    assert app.results == [SetupResult("gpt-4o", None, None, "openai")]


async def test_escape_cancels() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_the_current_settings_are_preselected() -> None:
    app = Host(model="openai/local-model", api_base="http://localhost:1234/v1")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert screen.choice.id == "lm_studio"
        assert screen.query_one("#setup-model", Input).value == "local-model"
        await pilot.click("#setup-save")
        await pilot.pause()
    assert app.results == [SetupResult("openai/local-model", "http://localhost:1234/v1", None, "lm_studio")]


async def test_test_connection_against_a_local_server(llm_server) -> None:
    app = Host(model="openai/test-model", api_base=llm_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.choice.id == "custom"
        await pilot.click("#setup-test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = app.screen.query_one("#setup-status", Static)
        assert "Connected: test-model is available." in str(status.render())
        assert status.has_class("-ok")


async def test_test_connection_checks_the_model_is_listed_and_clears_when_the_url_changes(llm_server) -> None:
    app = Host(model="openai/no-such-model", api_base=llm_server.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#setup-test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = app.screen.query_one("#setup-status", Static)
        assert "does not list no-such-model; it has: test-model." in str(status.render())
        assert status.has_class("-error")
        await pilot.click("#setup-url")
        await pilot.press("end", "backspace")  # another URL: the result above no longer describes it
        await pilot.pause()
        assert str(status.render()).strip() == ""
        app.screen.query_one("#setup-url", Input).value = llm_server.url
        app.screen.query_one("#setup-model", Input).value = "test-model"
        await pilot.click("#setup-test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "test-model is available" in str(status.render())
        app.screen.query_one("#setup-model", Input).value = "other"
        await pilot.pause()
        assert str(status.render()).strip() == ""


async def test_a_slow_test_result_for_an_old_url_is_not_shown(llm_server) -> None:
    """The test of the old URL finishes after the URL changed: its result must not appear."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    app = Host(model="openai/test-model", api_base=f"http://127.0.0.1:{port}/v1")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.click("#setup-test")
            await pilot.pause(0.3)
            status = app.screen.query_one("#setup-status", Static)
            assert "Testing" in str(status.render())
            app.screen.query_one("#setup-url", Input).value = llm_server.url
            await pilot.pause()
            assert str(status.render()).strip() == ""
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert str(status.render()).strip() == ""
    finally:
        for connection in accepted:
            connection.close()
        listener.close()


async def test_test_connection_reports_an_unreachable_server() -> None:
    app = Host(model="openai/m", api_base="http://127.0.0.1:9/v1")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#setup-test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(app.screen.query_one("#setup-status", Static).render())
        assert "Could not reach http://127.0.0.1:9/v1/models" in status


# ------------------------------------------------------------------ snapshots


def test_setup_screen_snapshot(snap_compare) -> None:
    assert snap_compare(Host("oi-night"), terminal_size=(80, 24))


def test_setup_screen_light_snapshot(snap_compare) -> None:
    assert snap_compare(Host("oi-paper"), terminal_size=(80, 24))


def test_setup_screen_local_server_snapshot(snap_compare) -> None:
    async def choose_ollama(pilot) -> None:
        await pilot.click("#choice-ollama")
        await pilot.pause()

    assert snap_compare(Host("oi-night"), terminal_size=(80, 24), run_before=choose_ollama)


def test_setup_screen_with_key_snapshot(snap_compare) -> None:
    async def type_key(pilot) -> None:
        await pilot.click("#setup-key")
        await pilot.press(*SECRET)
        pilot.app.screen.query_one("#setup-key", Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(Host("oi-night"), terminal_size=(80, 24), run_before=type_key)


async def test_first_run_setup_survives_a_restart(llm_server, no_kernel_warm_up) -> None:
    """The real app: first run shows setup; after saving a local server, the next start goes straight to chat."""
    from oi_tui import cli
    from oi_tui.app import OiApp
    from tests.tui_support import wait_for

    interpreter, _ = cli.make_interpreter(cli.build_parser().parse_args([]))
    app = OiApp(interpreter)
    async with app.run_test(size=(100, 30)) as pilot:  # closing the app ends the interpreter's session
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#choice-custom"))
        await pilot.pause()
        await pilot.click("#choice-custom")
        app.screen.query_one("#setup-url", Input).value = llm_server.url
        app.screen.query_one("#setup-model", Input).value = "test-model"
        await pilot.click("#setup-save")
        await wait_for(pilot, lambda: any("default profile" in str(n.message) for n in app._notifications))
    restarted, _ = cli.make_interpreter(cli.build_parser().parse_args([]))
    app = OiApp(restarted)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        await wait_for(pilot, lambda: not [w for w in app.workers if w.group == "startup" and not w.is_finished])
        await pilot.pause(0.3)
        assert not isinstance(app.screen, SetupScreen)
        assert (restarted.llm.model, restarted.llm.api_base) == ("openai/test-model", llm_server.url)
