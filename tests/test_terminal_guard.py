"""A hard crash of the app (SIGSEGV from a C extension) leaves a usable terminal and says what happened."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.test_tui_tmux import capture, wait_for_text

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def pane(session: str, fmt: str) -> str:
    return subprocess.run(["tmux", "display", "-p", "-t", session, fmt], capture_output=True, text=True).stdout.strip()


def app_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if "oi_tui.cli" in cmdline and process.environ().get("OI_TUI_TEST_MARKER") == marker:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_segfault_restores_terminal_and_explains(tmp_path):
    marker = f"guard-{tmp_path.name}"
    session = f"oi-guard-{tmp_path.name[-12:]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                    "bash --norc --noprofile"], check=True, cwd=ROOT)
    try:
        command = (
            f"export OI_TUI_TEST_MARKER={marker} OI_TUI_THEME=textual-dark PYTHONPATH={ROOT} "
            f"XDG_CONFIG_HOME={tmp_path / 'config'} XDG_DATA_HOME={tmp_path / 'data'} "
            f"LITELLM_LOCAL_MODEL_COST_MAP=True; "
            f"{sys.executable} -m oi_tui.cli --model openai/x --api_base http://127.0.0.1:9/v1 --api_key k"
        )
        subprocess.run(["tmux", "send-keys", "-t", session, command, "Enter"], check=True)
        wait_for_text(session, "ready", timeout=30)
        assert pane(session, "#{alternate_on}") == "1"
        processes = app_processes(marker)
        children = [p for p in processes if p.ppid() in {q.pid for q in processes}]
        assert len(children) == 1, f"expected the app to run in one child process: {processes}"
        guard = psutil.Process(children[0].ppid())
        loaded = Path(f"/proc/{guard.pid}/maps").read_text()
        assert "_yaml" not in loaded and "jiter" not in loaded, (
            "the guard forked after the core was imported: the app then pays copy-on-write for every page it writes")
        children[0].send_signal(signal.SIGSEGV)
        screen = wait_for_text(session, "terminal has been restored", timeout=15)
        assert "SIGSEGV" in screen
        assert pane(session, "#{alternate_on}") == "0", "still in the alternate screen"
        assert pane(session, "#{cursor_flag}") == "1", "the cursor is still hidden"
        subprocess.run(["tmux", "send-keys", "-t", session, "stty -a | tr ' ' '\\n' | grep -x -e echo -e icanon",
                        "Enter"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = capture(session).splitlines()
            if "echo" in lines and "icanon" in lines:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"echo/icanon not restored:\n{capture(session)}")
        assert not app_processes(marker), "the app's processes outlived the crash"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
