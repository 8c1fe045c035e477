"""`oi-tui --local` for real in tmux: the picker finds a scripted Ollama on OLLAMA_HOST (a non-default port),
a model is chosen and saved as a profile, and a turn runs code and completes against that same server —
all under the offline socket guard, so nothing off loopback is touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.local_servers import FakeOllama, OllamaModel
from tests.offline_guard import read_report

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

LAUNCH = (
    "import sys; sys.path.insert(0, {root!r}); import tests.offline_guard as guard; guard.install({report!r}); "
    "sys.argv = ['oi-tui', *sys.argv[1:]]; from oi_tui.cli import entry; entry()"
)


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for_text(session: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = capture(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen:\n{capture(session)}")


def keys(session: str, *sent: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *sent], check=True)


def test_local_picks_a_model_and_runs_a_turn_offline(tmp_path):
    import inspect

    from oi_tui.app import OiApp

    assert "on_ready" in inspect.signature(OiApp).parameters, (
        "oi_tui/app.py lacks the local-model hooks: apply /work/team/board/local-models-integration.patch")
    server = FakeOllama(OllamaModel("llama3.2:1b", context_length=8192),
                        OllamaModel("qwen2.5-coder:7b", size=4_683_087_332, context_length=32768))
    server.queue("Let me check:\n\n```shell\necho local-ok-$((2+3))\n```\n", "It printed local-ok-5.")
    report = tmp_path / "connections.jsonl"
    config = tmp_path / "config"
    session = f"oi-tui-local-{tmp_path.name[-12:]}"
    env_args = ["-e", "OI_TUI_THEME=textual-dark", "-e", f"XDG_CONFIG_HOME={config}",
                "-e", f"XDG_DATA_HOME={tmp_path / 'data'}", "-e", f"OLLAMA_HOST=127.0.0.1:{server.port}",
                "-e", f"PYTHONPATH={ROOT}"]
    command = f"{sys.executable} -c \"{LAUNCH.format(root=str(ROOT), report=str(report))}\" --local -y"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "34", *env_args, command],
                   check=True, cwd=tmp_path)
    try:
        wait_for_text(session, "Local models", timeout=40)
        screen = wait_for_text(session, "llama3.2:1b on Ollama", timeout=30)  # details read from /api/show
        assert f"Ollama (127.0.0.1:{server.port})" in screen and "qwen2.5-coder:7b" in screen
        assert "context 8,192" in screen
        keys(session, "C-s")  # use it; "Save as profile" is ticked
        deadline = time.monotonic() + 30  # the picker has gone and the chat screen is ready for typing
        while "Local models" in capture(session) or "● ready" not in capture(session):
            assert time.monotonic() < deadline, capture(session)
            time.sleep(0.2)
        keys(session, "count in the shell")
        wait_for_text(session, "count in the shell", timeout=30)  # in the prompt, not in a closing screen
        keys(session, "Enter")
        screen = wait_for_text(session, "It printed local-ok-5.", timeout=90)
        assert "local-ok-5" in screen.replace("It printed local-ok-5.", "")
        wait_for_text(session, "● ready", timeout=30)
        keys(session, "C-q")
        deadline = time.monotonic() + 20
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "the app did not quit on ctrl+q"
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        server.close()
    chats = server.chat_requests()
    assert [chat["model"] for chat in chats] == ["llama3.2:1b", "llama3.2:1b"]
    assert chats[0]["options"]["num_ctx"] == 8192 and "tools" not in chats[0]  # text mode: no tools offered
    saved = config / "oi-tui" / "profiles" / "ollama-llama3.2-1b.yaml"
    assert saved.is_file() and "model: ollama_chat/llama3.2:1b" in saved.read_text()
    connections = read_report(str(report))
    assert [c for c in connections if c["blocked"]] == [], "network use off loopback"
    assert not any(c["port"] == 11434 for c in connections), "something reached for the default Ollama port"
