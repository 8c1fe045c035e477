"""SIGTERM and SIGHUP end the real `oi-tui` command cleanly, in the TUI and in --plain (driven in tmux).

Each case starts the command against the scripted server with auto-run on; the model runs a Python block,
a shell block that leaves a background job, then a node program that never ends. While it runs, the command gets the
signal (or its tmux pane is killed: SIGHUP). Afterwards nothing it started may be alive (kernel, bash,
the job, node), its temporary files are gone, and the conversation file holds the last message.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.timeout(180),
]

OI_TUI = str(Path(sys.executable).with_name("oi-tui"))
PYTHON_BLOCK = "First Python.\n\n```python\nprint('py-' + 'ok')\n```\n"
SHELL_BLOCK = "Starting.\n\n```shell\nsleep 1008.25 &\necho bg-started\n```\n"
NODE_BLOCK = "And now node:\n\n```javascript\nconsole.log('node-' + 'running');\nsetInterval(() => {}, 1000);\n```\n"


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(condition, what: str, timeout: float = 60, session: str | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"; screen:\n{capture(session)}" if session else ""))


def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live, non-zombie process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] in (b"Z", b"X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            table[int(entry)] = (int(fields[1]), command)
        except (OSError, IndexError, ValueError):
            continue
    return table


def descendants(root: int) -> dict[int, str]:
    table = proc_table()
    found, stack = {}, [root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, command) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = command
                stack.append(pid)
    return found


def alive(pids: dict[int, str]) -> dict[int, str]:
    table = proc_table()
    return {pid: command for pid, command in pids.items() if pid in table and table[pid][1] == command}


class Launched:
    def __init__(self, tmp_path: Path, llm, plain: bool) -> None:
        self.home = tmp_path / "home"
        self.tmp = tmp_path / "tmp"
        self.data = tmp_path / "data"
        for path in (self.home, self.tmp, self.data):
            path.mkdir()
        self.session = f"oi-sig-{os.getpid()}-{tmp_path.name[-10:]}"
        env = {
            "HOME": str(self.home), "TMPDIR": str(self.tmp), "XDG_DATA_HOME": str(self.data),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "OI_TUI_THEME": "textual-dark",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        }
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        command = [OI_TUI, "-y", "--model", "openai/test-model", "--api_base", llm.url, "--api_key", "test-key",
                   "--no-llm_supports_functions"] + (["--plain"] if plain else [])
        self.status = tmp_path / "status"
        script = " ".join(f"'{part}'" for part in command) + f"; echo $? > '{self.status}'; sleep 30"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", "120", "-y", "35", *env_args,
                        "sh", "-c", script], check=True)
        pane = subprocess.run(["tmux", "display", "-p", "-t", self.session, "#{pane_pid}"],
                              capture_output=True, text=True, check=True).stdout.strip()
        self.shell_pid = int(pane)
        self.pid = wait_for(lambda: next(iter(p for p, c in descendants(self.shell_pid).items() if "oi-tui" in c),
                                         None), "the oi-tui process", 20)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, "-l", text], check=True)
        subprocess.run(["tmux", "send-keys", "-t", self.session, "Enter"], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)

    def conversation_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.data.rglob("*") if path.is_file())


def run_until_node_runs(launched: Launched, llm, plain: bool) -> dict[int, str]:
    """Send a message; return every process the command started once node runs and the kernel is up."""
    llm.queue(PYTHON_BLOCK, SHELL_BLOCK, NODE_BLOCK)

    def prompted() -> bool:
        screen = capture(launched.session)
        return ">" in screen.split() if plain else "Ask for something" in screen

    wait_for(prompted, "the prompt", 30, launched.session)
    launched.type("run the two blocks")

    def started() -> dict[int, str] | None:
        found = descendants(launched.pid)
        commands = " ".join(found.values())
        ready = all(word in commands for word in ("ipykernel", "bash", "node", "sleep 1008.25"))
        return found if ready and "node-running" in capture(launched.session) else None

    return wait_for(started, "the kernel, bash, the job and node", 90, launched.session)


@pytest.mark.parametrize("plain", [False, True], ids=["tui", "plain"])
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP"])
def test_signal_shuts_down_cleanly(tmp_path: Path, llm, plain: bool, how: str) -> None:
    launched = Launched(tmp_path, llm, plain)
    try:
        started = run_until_node_runs(launched, llm, plain)
        if how == "SIGTERM":
            os.kill(launched.pid, signal.SIGTERM)
        else:  # the terminal goes away: tmux hangs up the pane's processes
            launched.close()
        deadline = time.monotonic() + 30
        while (left := alive(started)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == {}, f"still running after {how}: {left}"
        wait_for(lambda: not os.path.exists(f"/proc/{launched.pid}"), "oi-tui to exit", 15)
        assert not list(launched.tmp.iterdir()), "temporary files were left"
        assert "node-running" in launched.conversation_text(), "the last message was not saved"
        if how == "SIGTERM":
            wait_for(launched.status.exists, "the exit status", 15)
            assert launched.status.read_text().strip() == str(128 + signal.SIGTERM)
    finally:
        launched.close()
        for pid in alive(locals().get("started") or {}):
            os.kill(pid, signal.SIGKILL)
