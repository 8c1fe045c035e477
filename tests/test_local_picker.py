"""Pilot tests of the local model picker and the download dialog, against scripted servers on loopback."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, Checkbox, Input, OptionList, ProgressBar, Static

from oi_core.local_models import JAN, LLAMAFILE, LM_STUDIO, OLLAMA, LocalServer
from oi_core.profiles import load_profile, profile_dir
from oi_tui.app import OiApp
from oi_tui.screens.local_models import LocalModelsScreen, LocalPick, check_local_model, open_local_models
from oi_tui.screens.local_pull import LocalPullScreen
from tests.local_servers import FakeLMStudio, FakeOllama, OllamaModel, PullPlan, StudioModel
from tests.tui_support import wait_for

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (80, 24)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ollama():
    server = FakeOllama(OllamaModel("llama3.2:1b", context_length=131072),
                        OllamaModel("qwen2.5-coder:7b", size=4_683_087_332, family="qwen2", parameter_size="7.6B",
                                    quantization="Q4_K_M", context_length=8192, capabilities=("completion", "tools")))
    yield server
    server.close()


@pytest.fixture
def studio():
    server = FakeLMStudio(StudioModel("qwen/qwen3-8b", max_context_length=12000))
    yield server
    server.close()


@pytest.fixture
def own_config(tmp_path, monkeypatch):
    """A private profile folder: these tests write profiles, the default one included."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def servers_for(ollama: FakeOllama | None, studio: FakeLMStudio | None, jan_port: int | None = None):
    down = free_port()
    return [
        LocalServer(OLLAMA, ollama.url if ollama else f"http://127.0.0.1:{down}"),
        LocalServer(LM_STUDIO, studio.url if studio else f"http://127.0.0.1:{down}/v1"),
        LocalServer(JAN, f"http://127.0.0.1:{jan_port or down}/v1"),
        LocalServer(LLAMAFILE, f"http://127.0.0.1:{down}/v1"),
    ]


class Host(App[None]):
    """Shows the picker at once and keeps what it dismissed with."""

    def __init__(self, servers) -> None:
        super().__init__()
        self.servers = servers
        self.results: list[LocalPick | None] = []

    def compose(self) -> ComposeResult:
        yield Static("main screen")

    def on_mount(self) -> None:
        self.push_screen(LocalModelsScreen(servers=self.servers), self.results.append)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def option_texts(screen, selector: str) -> list[str]:
    options = screen.query_one(selector, OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def probed(pilot) -> LocalModelsScreen:
    screen = pilot.app.screen
    assert isinstance(screen, LocalModelsScreen)
    await wait_for(pilot, lambda: bool(screen.query("#local-status")))  # composed
    await wait_for(pilot, lambda: "servers running" in text_of(screen, "#local-status")
                   or "No local model server" in text_of(screen, "#local-status"))
    return screen


async def test_servers_up_and_down_with_start_hint_and_retry(ollama):
    jan_port = free_port()
    app = Host(servers_for(ollama, None, jan_port))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        servers = option_texts(screen, "#local-servers")
        assert servers[0].startswith("● Ollama") and "2 models" in servers[0]
        assert [line[:1] for line in servers] == ["●", "○", "○", "○"]
        assert "1 of 4 servers running" in text_of(screen, "#local-status")
        assert option_texts(screen, "#local-models")[1].startswith("qwen2.5-coder:7b  4.7 GB")
        screen.query_one("#local-servers", OptionList).focus()
        await pilot.press("down", "down")  # Jan
        await wait_for(pilot, lambda: "Jan" in text_of(screen, "#local-detail"))
        detail = text_of(screen, "#local-detail")
        assert "nothing answers" in detail and "Local API Server" in detail and "Retry" in detail
        assert option_texts(screen, "#local-models") == []
        jan = FakeLMStudio("jan-nano", port=jan_port)  # the user starts Jan's server, then retries
        try:
            await pilot.press("f5")
            await wait_for(pilot, lambda: "2 of 4 servers running" in text_of(screen, "#local-status"))
            await wait_for(pilot, lambda: option_texts(screen, "#local-models") == ["jan-nano"])
            assert option_texts(screen, "#local-servers")[2].startswith("● Jan")
        finally:
            jan.close()
    assert app.results == []


async def test_nothing_running_says_how_to_start_each_server():
    app = Host(servers_for(None, None))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        assert "No local model server is running" in text_of(screen, "#local-status")
        assert "ollama serve" in text_of(screen, "#local-detail")
        await pilot.press("ctrl+s")
        assert "Choose a running server first" in text_of(screen, "#local-status")
        await pilot.press("escape")
    assert app.results == [None]


async def test_choose_an_ollama_model(ollama):
    app = Host(servers_for(ollama, None))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        await wait_for(pilot, lambda: "context 16,384" in text_of(screen, "#local-detail"))
        assert "131,072" in text_of(screen, "#local-detail")  # the model's own maximum, and why it is capped
        assert screen.query_one("#local-profile-name", Input).value == "ollama-llama3.2-1b"
        await pilot.press("down")  # qwen2.5-coder, which the server says takes tools
        await wait_for(pilot, lambda: "qwen2.5-coder:7b on Ollama" in text_of(screen, "#local-detail"))
        assert "tool calls" in text_of(screen, "#local-detail")
        await pilot.click("#local-save")  # do not save
        screen.query_one("#local-models", OptionList).focus()
        await pilot.press("enter")
        await pilot.pause()
    [pick] = app.results
    assert pick is not None and pick.profile_name is None
    assert pick.choice.settings() == {
        "llm.model": "ollama_chat/qwen2.5-coder:7b", "llm.api_base": ollama.url, "llm.supports_functions": True,
        "llm.supports_vision": False, "llm.context_window": 8192, "llm.max_tokens": 1638, "offline": True,
    }


async def test_choose_an_lm_studio_model_by_key(ollama, studio):
    app = Host(servers_for(ollama, studio))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        screen.query_one("#local-servers", OptionList).focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: "qwen/qwen3-8b on LM Studio" in text_of(screen, "#local-detail"))
        await pilot.press("ctrl+s")
        await pilot.pause()
    [pick] = app.results
    assert pick is not None and pick.profile_name == "lm-studio-qwen-qwen3-8b" and not pick.make_default
    assert (pick.choice.model, pick.choice.api_base, pick.choice.context_window) == (
        "openai/qwen/qwen3-8b", studio.url, 12000)
    assert pick.choice.supports_functions is False


async def test_add_a_server_by_address(studio):
    app = Host(servers_for(None, None))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        await pilot.click("#local-url")
        await pilot.press(*f"127.0.0.1:{studio.port}", "enter")
        await wait_for(pilot, lambda: option_texts(screen, "#local-models") == ["qwen/qwen3-8b"])
        assert option_texts(screen, "#local-servers")[-1].startswith(f"● 127.0.0.1:{studio.port}")
        await pilot.click("#local-url")
        await pilot.press(*"ftp://nope", "enter")
        await wait_for(pilot, lambda: "is not a server address" in text_of(screen, "#local-status"))


async def test_download_shows_progress_then_lists_the_model(ollama):
    ollama.pull_plan = PullPlan(layers=(2_000_000_000, 500), steps=30, step_delay=0.06)
    app = Host(servers_for(ollama, None))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        assert screen.query_one("#local-pull-row").display
        await pilot.click("#local-pull-name")
        await pilot.press(*"phi3", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LocalPullScreen))
        pull_screen = app.screen
        bar = pull_screen.query_one("#pull-bar", ProgressBar)
        await wait_for(pilot, lambda: bar.percentage is not None and 0.2 < bar.percentage < 0.9)
        figures = text_of(pull_screen, "#pull-figures")
        assert re.match(r"[\d.]+ [MG]B of 2\.0 GB · \d+%", figures), figures
        await wait_for(pilot, lambda: "MB/s" in text_of(pull_screen, "#pull-figures")
                       or "GB/s" in text_of(pull_screen, "#pull-figures"))
        assert "pulling" in text_of(pull_screen, "#pull-status")
        await wait_for(pilot, lambda: app.screen is screen, timeout=30)
        await wait_for(pilot, lambda: any(t.startswith("phi3:latest") for t in option_texts(screen, "#local-models")))
        await wait_for(pilot, lambda: "phi3:latest on Ollama" in text_of(screen, "#local-detail"))
    assert "phi3:latest" in ollama.models


async def test_cancel_a_download(ollama):
    ollama.pull_plan = PullPlan(layers=(5_000_000_000,), steps=500, step_delay=0.05)
    app = Host(servers_for(ollama, None))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        await pilot.click("#local-pull-name")
        await pilot.press(*"huge-model", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LocalPullScreen))
        bar = app.screen.query_one("#pull-bar", ProgressBar)
        await wait_for(pilot, lambda: bar.percentage is not None and bar.percentage > 0)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert "huge-model was not downloaded" in text_of(screen, "#local-status")
        assert ollama.pull_disconnected.wait(10), "the download went on after Cancel"
    assert "huge-model:latest" not in ollama.models


async def test_a_failed_download_says_why_and_offers_retry(ollama):
    ollama.pull_plan = PullPlan(error="pull model manifest: file does not exist")
    app = Host(servers_for(ollama, None))
    async with app.run_test(size=SIZE) as pilot:
        screen = await probed(pilot)
        await pilot.click("#local-pull-name")
        await pilot.press(*"no-such-model", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LocalPullScreen))
        pull_screen = app.screen
        await wait_for(pilot, lambda: "file does not exist" in text_of(pull_screen, "#pull-status"))
        assert text_of(pull_screen, "#pull-status") == (
            f"Ollama at 127.0.0.1:{ollama.port} could not download no-such-model: "
            "pull model manifest: file does not exist.")
        assert pull_screen.query_one("#pull-retry", Button).display
        ollama.pull_plan = PullPlan(steps=2)
        await pilot.click("#pull-retry")  # the retry succeeds
        await wait_for(pilot, lambda: app.screen is screen, timeout=30)
        await wait_for(pilot, lambda: "no-such-model:latest" in " ".join(option_texts(screen, "#local-models")))


# ---------------------------------------------------------------- in the real app


async def test_pick_in_the_app_applies_and_saves_a_profile(make_interpreter, ollama, own_config):
    interpreter = make_interpreter()
    app = OiApp(interpreter)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        open_local_models(app, servers=servers_for(ollama, None), keep={"llm.max_tokens": 1000})
        await wait_for(pilot, lambda: isinstance(app.screen, LocalModelsScreen))
        screen = await probed(pilot)
        await wait_for(pilot, lambda: "llama3.2:1b on Ollama" in text_of(screen, "#local-detail"))
        name_input = screen.query_one("#local-profile-name", Input)
        name_input.value = "my local"
        await pilot.press("ctrl+s")
        assert "cannot be a profile name" in text_of(screen, "#local-status")
        name_input.value = "my-local"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, LocalModelsScreen))
        await wait_for(pilot, lambda: (profile_dir() / "my-local.yaml").is_file())
        await wait_for(pilot, lambda: interpreter.llm.model == "ollama_chat/llama3.2:1b")
    llm = interpreter.llm
    assert (llm.model, llm.api_base, llm.context_window) == ("ollama_chat/llama3.2:1b", ollama.url, 16384)
    assert llm.max_tokens == 1000  # given on the command line: it wins over the pick
    assert llm.supports_functions is False and interpreter.offline is True
    saved = load_profile("my-local").settings
    assert saved["llm.model"] == "ollama_chat/llama3.2:1b" and saved["llm.api_base"] == ollama.url
    assert saved["llm.context_window"] == 16384 and saved["llm.max_tokens"] == 3276
    assert saved["code_output_sender"] == "user" and "{content}" in saved["code_output_template"]
    assert "131,072" in Path(profile_dir() / "my-local.yaml").read_text()


async def test_setup_screen_opens_the_picker(make_interpreter, ollama):
    from oi_tui.screens.setup import SetupScreen

    interpreter = make_interpreter()
    app = OiApp(interpreter)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        app.action_set_api_key()
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen) and bool(app.screen.query("#setup-local")))
        await pilot.pause()
        await pilot.click("#setup-local")
        await wait_for(pilot, lambda: isinstance(app.screen, LocalModelsScreen))
        assert not any(isinstance(screen, SetupScreen) for screen in app.screen_stack)
        await probed(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LocalModelsScreen))
        assert interpreter.llm.model == "openai/test-model"  # cancelled: nothing changed


INTEGRATION = "oi_tui/app.py lacks the local-model hooks: apply /work/team/board/local-models-integration.patch"


async def test_palette_opens_the_picker(make_interpreter):
    from textual.command import CommandPalette

    from oi_tui.commands import palette_commands

    app = OiApp(make_interpreter())
    assert callable(getattr(app, "action_local_models", None)), INTEGRATION
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        assert "Local model…" in [command.title for command in palette_commands(app)]
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: CommandPalette.is_open(app))
        await pilot.press(*"Local model")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LocalModelsScreen))


# ---------------------------------------------------------------- --model ollama/NAME in the TUI


def notifications(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_missing_ollama_model_is_offered_and_downloaded(make_interpreter, ollama):
    from oi_tui.screens.confirm import ConfirmScreen

    ollama.pull_plan = PullPlan(layers=(900_000_000, 2_000), steps=20, step_delay=0.05)
    interpreter = make_interpreter()
    interpreter.llm.model, interpreter.llm.api_base = "ollama/phi3", None
    interpreter.llm.context_window = interpreter.llm.supports_functions = None
    app = OiApp(interpreter)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OLLAMA_HOST", f"127.0.0.1:{ollama.port}")
            check_local_model(app)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and bool(app.screen.query("#confirm-yes"))
                           and app.screen.query_one("#confirm-yes").region.area > 0)  # laid out: a click lands
            await pilot.pause()
            assert f"phi3 is not on the Ollama server at 127.0.0.1:{ollama.port}. Download it now?" in str(
                app.screen.query_one("#confirm-question", Static).render())
            await pilot.click("#confirm-yes")
            await wait_for(pilot, lambda: isinstance(app.screen, LocalPullScreen))
            bar = app.screen.query_one("#pull-bar", ProgressBar)
            await wait_for(pilot, lambda: bar.percentage is not None and bar.percentage > 0.1)
            await wait_for(pilot, lambda: interpreter.llm.context_window == 16384, timeout=30)
    assert "phi3:latest" in ollama.models
    llm = interpreter.llm
    assert (llm.api_base, llm.supports_functions, llm.max_tokens) == (ollama.url, False, 3276)
    assert "phi3:latest is ready." in notifications(app)


async def test_declined_or_unreachable_ollama_model_is_explained(make_interpreter, ollama):
    from oi_tui.screens.confirm import ConfirmScreen

    interpreter = make_interpreter()
    interpreter.llm.model, interpreter.llm.api_base = "ollama_chat/phi3", ollama.url
    app = OiApp(interpreter)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        check_local_model(app)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and bool(app.screen.query("#confirm-no")))
        await pilot.press("n")
        await wait_for(pilot, lambda: any("ollama pull phi3" in text for text in notifications(app)))
        assert ollama.pull_started.is_set() is False
        port = free_port()
        interpreter.llm.api_base = f"http://127.0.0.1:{port}"
        check_local_model(app)
        await wait_for(pilot, lambda: any("ollama serve" in text for text in notifications(app)))
        assert any(f"Ollama at 127.0.0.1:{port}: nothing answers." in text for text in notifications(app))


async def test_save_as_the_default_profile(make_interpreter, studio, own_config, tmp_path):
    interpreter = make_interpreter()
    app = OiApp(interpreter)
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await pilot.pause()
        open_local_models(app, servers=servers_for(None, studio))
        await wait_for(pilot, lambda: isinstance(app.screen, LocalModelsScreen))
        screen = await probed(pilot)
        await wait_for(pilot, lambda: "qwen/qwen3-8b on LM Studio" in text_of(screen, "#local-detail"))
        await pilot.click("#local-default")
        assert screen.query_one("#local-default", Checkbox).value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("also the default" in str(n.message) for n in app._notifications))
    default = load_profile("default").settings
    assert (default["llm.model"], default["llm.api_base"], default["llm.context_window"]) == (
        "openai/qwen/qwen3-8b", studio.url, 12000)
    assert default["code_output_sender"] == "user"
    assert load_profile("lm-studio-qwen-qwen3-8b").settings["llm.model"] == "openai/qwen/qwen3-8b"
    assert profile_dir() == tmp_path / "config" / "oi-tui" / "profiles"
