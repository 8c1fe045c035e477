"""Shared fixtures: an isolated home for every test run, the scripted LLM server, configured interpreters."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="oi-tui-tests-"))
for _name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_SANDBOX / _name.lower())
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
os.environ.pop("OPENAI_API_KEY", None)
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from tests.llm_server import Reply, ScriptedLLM  # noqa: E402

try:  # snapshots live in the top-level snapshots/ folder (see ../shared notes)
    import pytest_textual_snapshot

    SNAPSHOT_ROOT = Path(__file__).resolve().parent.parent / "snapshots"

    class TopLevelSvgSnapshots(pytest_textual_snapshot.SVGImageExtension):
        @classmethod
        def dirname(cls, *, test_location) -> str:  # syrupy 4.8 API
            return str(SNAPSHOT_ROOT / test_location.basename)

    pytest_textual_snapshot.SVGImageExtension = TopLevelSvgSnapshots
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture
def llm(llm_server: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The scripted server, emptied for this test."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "conversations"
    path.mkdir()
    return path


@pytest.fixture
def make_interpreter(llm: ScriptedLLM, data_dir: Path):
    """Factory for interpreters wired to the scripted server (text mode, no autosave unless asked)."""
    created = []

    def make(**settings):
        from oi_core import OpenInterpreter

        interp = OpenInterpreter()
        interp.llm.model = "openai/test-model"
        interp.llm.api_base = llm.url
        interp.llm.api_key = "test-key"
        interp.llm.supports_functions = False
        interp.llm.supports_vision = False
        interp.llm.context_window = 32000
        interp.conversation_history = False
        interp.conversation_history_path = str(data_dir)
        for name, value in settings.items():
            interp.set_setting(name, value)
        created.append(interp)
        return interp

    yield make
    for interp in created:
        try:
            interp.terminate()
        except Exception:
            pass


@pytest.fixture
def pinned_look(monkeypatch):
    """A fixed theme and image renderer for TUI tests that ask for it (never leaked to other tests)."""
    monkeypatch.setenv("OI_TUI_THEME", "textual-dark")
    monkeypatch.setenv("OI_TUI_IMAGE_RENDERER", "unicode")


@pytest.fixture
def no_kernel_warm_up(monkeypatch):
    """Record warm-up calls instead of starting a Python kernel per TUI test (2 shared cores)."""
    calls: list[object] = []
    monkeypatch.setattr("oi_core.session.Session.warm_up", lambda self: calls.append(self))
    return calls


__all__ = ["Reply", "ScriptedLLM"]


# ---------------------------------------------------------------- the UI thread never stalls (issue 15)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_stalls(reason): this Pilot test may hold the UI loop longer than tests/loop_stalls.py allows "
        "(say why; the default is to fail on any stall)",
    )


@pytest.fixture(autouse=True)
def ui_stall_guard(request, monkeypatch):
    """Every Pilot test fails if, once the app is up, one event-loop callback stalls the UI (loop_stalls.py).

    Opt out with `@pytest.mark.allow_stalls("why")`; a test can also wrap a step it makes heavy on purpose
    in `with ui_stall_guard.pause():`.
    """
    from contextlib import asynccontextmanager

    from textual.app import App

    from tests.loop_stalls import StallGuard

    guard = StallGuard()
    if request.node.get_closest_marker("allow_stalls") is not None:
        yield guard
        return
    original = App.run_test

    @asynccontextmanager
    async def guarded_run_test(self, *args, **kwargs):
        async with original(self, *args, **kwargs) as pilot:
            await pilot.pause()  # start-up (first compose, CSS) is not what the guard is about
            guard.start(exempt_task=asyncio.current_task())
            try:
                yield pilot
            finally:
                guard.stop()
        if os.environ.get("OI_STALL_LOG"):
            guard.log_to(os.environ["OI_STALL_LOG"], request.node.nodeid)
        if guard.stalls:
            raise AssertionError(f"the UI loop stalled ({len(guard.stalls)}x; tests/loop_stalls.py):\n"
                                 + guard.report())

    monkeypatch.setattr(App, "run_test", guarded_run_test)
    yield guard
    guard.stop()
