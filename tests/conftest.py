"""Shared fixtures: an isolated home for every test run, the scripted LLM server, configured interpreters."""

from __future__ import annotations

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
