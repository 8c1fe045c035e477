"""The real commands: `oi-tui --server` in one process, `oi-tui --connect` in a tmux terminal attached to it.

The client's key comes from the keyring, stored by `oi-tui --set-key ws://HOST:PORT`; --key and the
environment are used by the refusal test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.llm_server import Reply, ScriptedLLM

ROOT = Path(__file__).resolve().parent.parent
KEY = "tmux-connect-key-7"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "OI_TUI_THEME": "textual-dark"}
    env.pop("INTERPRETER_API_KEY", None)
    env.update(extra)
    return env


class RealServer:
    """`python -m oi_tui.cli --server` on a free port, talking to the scripted LLM."""

    def __init__(self, tmp_path: Path, llm: ScriptedLLM) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "oi_tui.cli", "--server", "--port", str(self.port),
                   "--model", "openai/test-model", "--api_base", llm.url, "--api_key", "test-key",
                   "--llm_supports_functions", "false"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=isolated_env(tmp_path / "server",
                                                                            INTERPRETER_API_KEY=KEY),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def scripted_llm():
    llm = ScriptedLLM()
    yield llm
    llm.close()


def tmux(socket_name: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", socket_name, *args], capture_output=True, text=True, **kwargs)


def wait_for_text(socket_name: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(socket_name, "capture-pane", "-p", "-t", "connect").stdout
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen:\n{screen}")


def test_connect_in_a_real_terminal_approves_a_block_that_runs_on_the_server(tmp_path, scripted_llm):
    made = tmp_path / "made-by-the-server"
    scripted_llm.queue(Reply(text=f"Checking:\n\n```shell\ntouch {made}; echo remote-ok-$((6*7))\n```\n",
                             chunk_size=3, chunk_delay=0.005), "It printed remote-ok-42.")
    server = RealServer(tmp_path, scripted_llm)
    socket_name = f"oi-s2-{os.getpid()}-{tmp_path.name[-10:]}"
    client_env = isolated_env(tmp_path / "client", PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
    env_args = [arg for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "OI_TUI_THEME",
                                 "LITELLM_LOCAL_MODEL_COST_MAP", "PYTHON_KEYRING_BACKEND")
                for arg in ("-e", f"{name}={client_env[name]}")]
    stored = subprocess.run([sys.executable, "-m", "oi_tui.cli", "--set-key", server.url], input=KEY + "\n",
                            cwd=ROOT, env=client_env, capture_output=True, text=True, timeout=90)
    assert stored.returncode == 0 and KEY not in stored.stdout + stored.stderr, stored.stderr
    try:
        tmux(socket_name, "new-session", "-d", "-s", "connect", "-x", "120", "-y", "35", *env_args,
             f"{sys.executable} -m oi_tui.cli --connect {server.url}", cwd=ROOT, check=True)
        wait_for_text(socket_name, "Connected to", timeout=60)
        wait_for_text(socket_name, "test-model", timeout=30)  # the server's model, in the status line
        tmux(socket_name, "send-keys", "-t", "connect", "make the file on the server", "Enter", check=True)
        wait_for_text(socket_name, "Run this shell code?", timeout=60)
        assert not made.exists()  # nothing runs before the user approves
        time.sleep(0.5)  # a key typed before the card has been on screen a moment is ignored
        tmux(socket_name, "send-keys", "-t", "connect", "C-r", check=True)
        screen = wait_for_text(socket_name, "It printed remote-ok-42.", timeout=60)
        assert "remote-ok-42" in screen.replace("It printed remote-ok-42.", "")  # the output, streamed back
        assert made.exists()
        wait_for_text(socket_name, "● ready", timeout=30)
        tmux(socket_name, "send-keys", "-t", "connect", "C-q", check=True)
        deadline = time.monotonic() + 30
        while tmux(socket_name, "has-session", "-t", "connect").returncode == 0:
            assert time.monotonic() < deadline, "oi-tui --connect did not quit on ctrl+q"
            time.sleep(0.2)
        assert server.process.poll() is None, "the server went down with its client"
    finally:
        tmux(socket_name, "kill-server")
        server.stop()


def run_cli(tmp_path: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess:
    env = isolated_env(tmp_path / "cli", **({"INTERPRETER_API_KEY": key} if key else {}))
    return subprocess.run([sys.executable, "-m", "oi_tui.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=90, stdin=subprocess.DEVNULL)


def one_sentence(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("oi-tui: ")
    return lines[0]


def test_connect_refusals_are_one_sentence_and_an_exit_code(tmp_path, scripted_llm):
    server = RealServer(tmp_path, scripted_llm)
    try:
        wrong = run_cli(tmp_path, "--connect", server.url, "--key", "not-the-key")
        assert wrong.returncode == 1
        assert "refused the key" in one_sentence(wrong)
        missing = run_cli(tmp_path, "--connect", server.url)  # no --key, no environment, nothing in the keyring
        assert missing.returncode == 1
        assert "refused the key" in one_sentence(missing)
    finally:
        server.stop()
    down = run_cli(tmp_path, "--connect", server.url, key=KEY)
    assert down.returncode == 1
    assert "cannot reach" in one_sentence(down) and "connection refused" in down.stderr
    bad = run_cli(tmp_path, "--connect", "ftp://somewhere")
    assert bad.returncode == 2
    assert "not a server address" in one_sentence(bad)
