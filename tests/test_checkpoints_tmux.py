"""Undo and rewind through the real command in a real terminal: `python -m oi_tui.cli` in tmux, talking to the
scripted server, with a project folder as its working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def shell_block(code: str) -> str:
    return f"Doing it:\n\n```shell\n{code}\n```\n"


def test_real_command_shows_changes_undoes_and_rewinds(llm, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "keep.txt").write_text("original\n")
    llm.queue(shell_block("echo changed > keep.txt && echo new > made.txt"), "Changed them.")
    llm.queue(shell_block("echo second > second.txt"), "Made the second.")
    socket = f"oi-ckpt-{tmp_path.name[-10:]}"
    session = "app"

    def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=check)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session).stdout

    def wait_screen(text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on screen:\n{screen()}")

    def wait_until(condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}; screen:\n{screen()}")
            time.sleep(0.2)

    env = {"OI_TUI_THEME": "textual-dark", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT),
           "PYTHON_KEYRING_BACKEND": os.environ.get("PYTHON_KEYRING_BACKEND", "")}
    env_args = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    command = (f"{sys.executable} -m oi_tui.cli --model openai/test-model --api_base {llm.url} --api_key x "
               "--no-llm_supports_functions")
    tmux("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "130", "-y", "40", "-c", str(project),
         *env_args, command)
    try:
        wait_screen("Ask for something to be done", timeout=30)
        tmux("send-keys", "-t", session, "change my files", "Enter")
        wait_screen("Run this shell code?")
        time.sleep(0.5)  # a key typed before the card has been on screen a moment is ignored
        tmux("send-keys", "-t", session, "C-r")
        wait_screen("+1 ~1 -0 files")
        wait_screen("● ready")
        assert (project / "made.txt").exists() and (project / "keep.txt").read_text() == "changed\n"

        tmux("send-keys", "-t", session, "F4")  # the diff view
        shown = wait_screen("+ made.txt")
        assert "~ keep.txt" in shown
        tmux("send-keys", "-t", session, "Escape")
        wait_screen("Ask for something to be done")

        tmux("send-keys", "-t", session, "F8")  # undo, through the confirm dialog
        shown = wait_screen("Undo the last run")
        assert "installed" in shown and "packages" in shown
        time.sleep(0.5)  # the dialog ignores keys typed in its first 0.3 s
        tmux("send-keys", "-t", session, "y")
        wait_until(lambda: not (project / "made.txt").exists(), "undo did not remove made.txt")
        wait_screen("Undid the last run")  # new files go first, changed ones are written back after
        assert (project / "keep.txt").read_text() == "original\n"

        tmux("send-keys", "-t", session, "make a second file", "Enter")
        wait_screen("Run this shell code?")
        time.sleep(0.5)
        tmux("send-keys", "-t", session, "C-r")
        wait_until(lambda: (project / "second.txt").exists(), "the second run did not happen")
        wait_screen("● ready")
        tmux("send-keys", "-t", session, "F9")  # rewind to before the second message
        wait_screen("Rewind to before")
        tmux("send-keys", "-t", session, "-l", "make a second")
        time.sleep(0.8)
        tmux("send-keys", "-t", session, "Enter")
        wait_screen("Rewind to before your message")
        time.sleep(0.5)  # the dialog ignores keys typed in its first 0.3 s
        tmux("send-keys", "-t", session, "y")
        wait_until(lambda: not (project / "second.txt").exists(), "rewind did not remove second.txt")
        wait_screen("Rewound to message")
        tmux("send-keys", "-t", session, "C-q")
        wait_until(lambda: tmux("has-session", "-t", session, check=False).returncode != 0, "the app did not quit")
    finally:
        tmux("kill-server", check=False)
