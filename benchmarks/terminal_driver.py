"""Drive a real program in a real terminal (tmux) and time what appears on screen.

Used by the end-to-end benchmarks: every figure they print is measured from a keystroke or a launch
to the moment the text is visible in the terminal, through the whole stack.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def oi_tui_command() -> list[str]:
    """The installed console script, as a user runs it (falls back to the module)."""
    script = Path(sys.executable).with_name("oi-tui")
    if script.exists():
        return [str(script)]
    found = shutil.which("oi-tui")
    return [found] if found else [sys.executable, "-m", "oi_tui.cli"]


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for one run: its own config/data folders, offline litellm, a fixed theme."""
    env = {
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "OI_TUI_THEME": "textual-dark",
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


#: A tmux server of our own, so other tmux users on the machine neither disturb nor see the runs.
SOCKET = f"oi-bench-{os.getpid()}"


def tmux(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", SOCKET, *args], **kwargs)


_server_started = False


def _ensure_server() -> None:
    """Start our tmux server with a session that keeps it alive between runs.

    Without it the server exits when the last run's session closes, and the next `new-session` can
    race its shutdown ("server exited unexpectedly").
    """
    global _server_started
    if _server_started:
        return
    tmux("new-session", "-d", "-s", "oi-bench-keeper", "-x", "20", "-y", "5", "sleep 86400", capture_output=True)
    atexit.register(lambda: tmux("kill-server", capture_output=True))
    _server_started = True


class Terminal:
    """One tmux session running one command at a fixed size."""

    def __init__(self, command: list[str], *, width: int = 120, height: int = 40,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = f"oi-bench-{uuid.uuid4().hex[:8]}"
        env_args: list[str] = []
        for key, value in (env or {}).items():
            env_args += ["-e", f"{key}={value}"]
        _ensure_server()
        self.started = time.perf_counter()
        tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
             *env_args, shlex.join(command), check=True, cwd=cwd or ROOT)
        self._pids: list[int] = []
        try:
            self._pids = [self.pane_pid()]
        except ValueError:  # the command already ended
            pass

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.name, capture_output=True, text=True).stdout

    def settled_screen(self, quiet: float = 0.01, timeout: float = 1.0) -> str:
        """The screen once two captures `quiet` s apart agree: tmux shows a large frame while it is still
        applying it (a capture can catch its first rows new and its last rows old)."""
        deadline = time.perf_counter() + timeout
        shown = self.screen()
        while time.perf_counter() < deadline:
            time.sleep(quiet)
            again = self.screen()
            if again == shown:
                break
            shown = again
        return shown

    def keys(self, *keys: str) -> None:
        """Send tmux key names (Enter, Escape, C-q, PageUp, …)."""
        tmux("send-keys", "-t", self.name, *keys, check=True)

    def type(self, text: str) -> None:
        """Send literal text."""
        tmux("send-keys", "-t", self.name, "-l", text, check=True)

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = 30.0,
                 poll: float = 0.002) -> float:
        """Seconds until the screen satisfies `predicate` (or shows the text); raises TimeoutError."""
        check = (lambda s: predicate in s) if isinstance(predicate, str) else predicate
        started = time.perf_counter()
        while True:
            if check(self.screen()):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"not on screen after {timeout:.0f} s:\n{self.screen()}")
            time.sleep(poll)

    def pane_pid(self) -> int:
        out = tmux("display", "-p", "-t", self.name, "#{pane_pid}", capture_output=True, text=True).stdout.strip()
        return int(out)

    def alive(self) -> bool:
        return tmux("has-session", "-t", self.name, capture_output=True).returncode == 0

    def processes(self) -> list[int]:
        """The command's process and all its descendants (kernels included)."""
        import psutil

        found: list[int] = []
        for pid in self._pids:
            try:
                process = psutil.Process(pid)
                found += [pid] + [child.pid for child in process.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return found

    def close(self) -> None:
        """Close the terminal (SIGHUP, as a user closing it); whatever still runs 5 s later is killed."""
        import psutil

        left = []
        for pid in self.processes():
            try:
                left.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        tmux("kill-session", "-t", self.name, capture_output=True)
        _, alive = psutil.wait_procs(left, timeout=5)
        for process in alive:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def app_rss_mb(terminal: Terminal) -> float:
    """Resident memory of the app and its own Python children (kernels excluded), in MB."""
    import psutil

    total = 0
    for process in [psutil.Process(terminal.pane_pid())] + psutil.Process(terminal.pane_pid()).children(True):
        try:
            if "ipykernel" in " ".join(process.cmdline()):
                continue
            total = max(total, process.memory_info().rss)  # the app process is the largest
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


BARE_APP = r"""
from textual.app import App
from textual.widgets import Footer, Header, Input

class Bare(App):
    def compose(self):
        yield Header()
        yield Input(placeholder="bare-app-ready")
        yield Footer()

Bare().run()
"""


def bare_app_command() -> list[str]:
    path = Path(tempfile.gettempdir()) / "oi_bench_bare_app.py"
    path.write_text(BARE_APP)
    return [sys.executable, str(path)]


def key_echo(terminal: Terminal, count: int, *, line_of: Callable[[str], str], gap: float = 0.05,
             timeout: float = 10.0) -> tuple[list[float], int]:
    """Type `count` keys one at a time; seconds from each send to its echo, and how many never showed.

    `line_of(screen)` returns the text of the prompt; the keys typed so far must all be there.
    """
    alphabet = "qwxzvkjqwxzvkj"
    typed = ""
    latencies: list[float] = []
    lost = 0
    for i in range(count):
        char = alphabet[i % len(alphabet)]
        if len(typed) >= 40:  # stay on one prompt line
            terminal.keys("C-u")
            terminal.wait_for(lambda s: typed not in line_of(s), timeout=timeout)
            typed = ""
        terminal.type(char)
        typed += char
        try:
            latencies.append(terminal.wait_for(lambda s, t=typed: t in line_of(s), timeout=timeout, poll=0.001))
        except TimeoutError:
            lost += 1
            terminal.keys("C-u")
            time.sleep(0.5)
            typed = ""
        time.sleep(gap)
    return latencies, lost


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def environment_note() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, tmux {subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.strip()}"
