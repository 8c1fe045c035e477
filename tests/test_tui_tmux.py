"""oi-tui for real: tmux runs the app in a terminal, send-keys types, capture-pane reads the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

LAUNCHER = r"""
import sys
sys.path.insert(0, {root!r})
from tests.llm_server import Reply, ScriptedLLM
from oi_core import OpenInterpreter
from oi_tui.app import OiApp

llm = ScriptedLLM()
llm.queue(Reply(text="Let me check:\n\n```shell\necho tmux-ok-$((3+4))\n```\n", chunk_size=3, chunk_delay=0.005))
llm.queue("It printed tmux-ok-7.")
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = llm.url
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.conversation_history = False
OiApp(interp).run()
llm.close()
"""


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


def test_real_terminal_send_approve_quit(tmp_path):
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(root=str(ROOT)))
    session = f"oi-tui-test-{tmp_path.name[-12:]}"
    env_args = ["-e", "OI_TUI_THEME=textual-dark", "-e", f"XDG_CONFIG_HOME={tmp_path / 'config'}",
                "-e", f"XDG_DATA_HOME={tmp_path / 'data'}", "-e", "LITELLM_LOCAL_MODEL_COST_MAP=True"]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "35", *env_args,
                    f"{sys.executable} {launcher}"], check=True)
    try:
        wait_for_text(session, "Ask for something to be done", timeout=15)
        subprocess.run(["tmux", "send-keys", "-t", session, "say hi in the shell", "Enter"], check=True)
        wait_for_text(session, "Run this shell code?", timeout=60)
        time.sleep(0.5)  # a key typed before the card has been on screen a moment is ignored
        subprocess.run(["tmux", "send-keys", "-t", session, "C-r"], check=True)
        screen = wait_for_text(session, "It printed tmux-ok-7.", timeout=30)
        assert "shell · ran" in screen
        assert "tmux-ok-7" in screen.replace("It printed tmux-ok-7.", "")
        wait_for_text(session, "● ready", timeout=30)  # the turn has ended, so quitting asks nothing
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alive = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, "the app did not quit on ctrl+q"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


#: Put first on PYTHONPATH of the launched command: an atexit handler that runs only if the interpreter
#: finalises normally (os._exit skips it) and notes which program it was, so the test sees whether oi-tui
#: took its fast exit (the kernels it starts inherit the probe and finalise normally: they are told apart).
FINALISATION_PROBE = """
import atexit, os, sys
_probe = os.environ.get("OI_TUI_FINALISED_PROBE")
if _probe:
    atexit.register(lambda: open(_probe, "a").write(repr(sys.argv[:1]) + "\\n"))
"""

BARE_APP = (
    "from textual.app import App\n"
    "from textual.widgets import Static\n"
    "class Bare(App):\n"
    "    def compose(self):\n"
    "        yield Static('bare app ready')\n"
    "Bare().run()\n"
)


def quit_time(session: str, command: str, ready: str, env_args: list[str], before_quit=lambda: None) -> float:
    """Start `command` in tmux, wait for `ready` on screen, press ctrl+q: seconds until the program is gone."""
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", *env_args, command],
                   check=True, cwd=ROOT)
    try:
        wait_for_text(session, ready, timeout=30)
        before_quit()
        started = time.monotonic()
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            assert time.monotonic() - started < 20, "the program did not quit"
            time.sleep(0.02)
        return time.monotonic() - started
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_installed_command_quits_fast_and_leaves_no_kernel(tmp_path):
    """`oi-tui` itself: it quits about as fast as a bare Textual app, skips interpreter teardown once its
    session is closed (the fast exit), and the warmed-up kernel is gone.

    The bound is relative: a bare Textual app launched the same way (same Python, same terminal, same moment)
    is the floor, measured before and after ours so a load spike on the shared machine raises both. On top of
    it oi-tui may spend what closing the session costs (the kernel's graceful shutdown). Without the fast
    exit, interpreter teardown adds 0.5-1.5 s more, and the finalisation probe fails at once.
    """
    import psutil

    marker = f"oi-tui-quit-{tmp_path.name}"
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "sitecustomize.py").write_text(FINALISATION_PROBE)
    finalised = tmp_path / "finalised"
    env_args = ["-e", "OI_TUI_THEME=textual-dark", "-e", f"XDG_CONFIG_HOME={tmp_path / 'config'}",
                "-e", f"XDG_DATA_HOME={tmp_path / 'data'}", "-e", "LITELLM_LOCAL_MODEL_COST_MAP=True",
                "-e", f"OI_TUI_TEST_MARKER={marker}", "-e", f"PYTHONPATH={probe_dir}{os.pathsep}{ROOT}",
                "-e", f"OI_TUI_FINALISED_PROBE={finalised}"]
    command = f"{sys.executable} -m oi_tui.cli --model openai/x --api_base http://127.0.0.1:9/v1 --api_key k"
    bare = f"{sys.executable} -c {shlex.quote(BARE_APP)}"
    name = tmp_path.name[-12:]

    def kernels() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            try:
                if "ipykernel" in " ".join(process.info["cmdline"] or []) and \
                        process.environ().get("OI_TUI_TEST_MARKER") == marker:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    def kernel_warmed_up() -> None:
        deadline = time.monotonic() + 30
        while not kernels() and time.monotonic() < deadline:  # the kernel is warmed up after the first frame
            time.sleep(0.2)
        assert kernels(), "the Python kernel was not started in the background"
        time.sleep(1)

    def torn_down(program: str) -> bool:
        return finalised.exists() and program in finalised.read_text()

    floor_before = quit_time(f"bare-a-{name}", bare, "bare app ready", env_args)
    assert torn_down("'-c'"), "the finalisation probe did not load: this test cannot see the fast exit"
    took = quit_time(f"oi-tui-quit-{name}", command, "ready", env_args, kernel_warmed_up)
    oi_tui_torn_down = torn_down("cli.py")
    floor_after = quit_time(f"bare-b-{name}", bare, "bare app ready", env_args)
    time.sleep(0.5)
    assert kernels() == [], "a kernel outlived the app"
    assert not oi_tui_torn_down, "oi-tui went through interpreter teardown after its session was closed (no fast exit)"
    floor = max(floor_before, floor_after)
    assert took < 2 * floor + 1.5, f"quitting took {took:.2f} s; a bare Textual app took {floor:.2f} s"


SENTENCE_LAUNCHER = r"""
import sys
sys.path.insert(0, {root!r})
from tests.llm_server import Reply, ScriptedLLM
from oi_core import OpenInterpreter
from oi_tui.app import OiApp

llm = ScriptedLLM()
llm.queue("Making it:\n\n```shell\ntouch {marker}\n```\n", "Made it.")
llm.queue("Clipboard \x1b]52;c;cHduZWQtY2xpcA==\x1b\\ bel-clip \x1b]52;c;cHduZWQtYmVs\x07 title \x1b]2;pwned-title\x1b\\ bel \x1b]0;pwned-bel\x07 done.")
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = llm.url
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.conversation_history = False
OiApp(interp).run()
llm.close()
"""


def test_typing_while_code_waits_never_runs_it_and_replies_cannot_set_title_or_clipboard(tmp_path):
    """In a real terminal: sentences full of r/e/s/y/n (and Enter) leave the code pending; ctrl+r runs it.
    Then a reply carrying OSC 0/2 (title) and OSC 52 (clipboard) changes neither the pane title nor the
    tmux paste buffers (a private tmux server with set-clipboard on, so an OSC 52 would land there)."""
    marker = tmp_path / "tmux-marker"
    launcher = tmp_path / "launch.py"
    launcher.write_text(SENTENCE_LAUNCHER.format(root=str(ROOT), marker=str(marker)))
    socket = f"oi-approval-{tmp_path.name[-10:]}"
    session = "app"

    def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=check)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session).stdout

    def wait_screen(text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on screen:\n{screen()}")

    env_args = ["-e", "OI_TUI_THEME=textual-dark", "-e", f"XDG_CONFIG_HOME={tmp_path / 'config'}",
                "-e", f"XDG_DATA_HOME={tmp_path / 'data'}", "-e", "LITELLM_LOCAL_MODEL_COST_MAP=True"]
    tmux("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "120", "-y", "35", *env_args,
         f"{sys.executable} {launcher}")
    try:
        tmux("set-option", "-s", "set-clipboard", "on")
        tmux("set-option", "-g", "allow-rename", "on")
        title_before = tmux("display", "-p", "-t", session, "#{pane_title}").stdout
        buffers_before = tmux("list-buffers", check=False).stdout
        wait_screen("Ask for something to be done", timeout=30)
        tmux("send-keys", "-t", session, "make the marker", "Enter")
        wait_screen("Run this shell code?", timeout=60)
        tmux("send-keys", "-t", session, "-l", "thanks, and after that please remove it")
        tmux("send-keys", "-t", session, "Enter")
        tmux("send-keys", "-t", session, "-l", " really yes, run it, edit it, skip it, or no? s e r y n")
        time.sleep(1.5)
        shown = screen()
        assert not marker.exists(), "typing ran the code"
        assert "awaiting approval" in shown and "Run this shell code?" in shown
        assert "queued" in shown and "thanks, and after that please remove it" in shown
        assert "really yes, run it" in shown  # still in the prompt
        tmux("send-keys", "-t", session, "C-r")
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "ctrl+r did not run the code"
        # the queued message is sent after the turn; its reply carries the escape sequences
        wait_screen("done.", timeout=60)
        time.sleep(0.5)
        assert tmux("list-buffers", check=False).stdout == buffers_before
        assert tmux("display", "-p", "-t", session, "#{pane_title}").stdout == title_before
        assert "pwned" not in tmux("display", "-p", "-t", session, "#{pane_title}").stdout
    finally:
        tmux("kill-server", check=False)


def test_exported_columns_and_lines_do_not_pin_the_size(tmp_path):
    """Textual reads the terminal size through shutil, which prefers $COLUMNS/$LINES: exported by a script (or
    by readline under pytest), they kept the app at 80x24 in a bigger terminal and deaf to every resize."""
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(root=str(ROOT)))
    socket = f"oi-size-{tmp_path.name[-10:]}"
    env_args = ["-e", "OI_TUI_THEME=textual-dark", "-e", f"XDG_CONFIG_HOME={tmp_path / 'config'}",
                "-e", f"XDG_DATA_HOME={tmp_path / 'data'}", "-e", "LITELLM_LOCAL_MODEL_COST_MAP=True",
                "-e", "COLUMNS=80", "-e", "LINES=24"]

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True).stdout

    tmux("-f", "/dev/null", "new-session", "-d", "-s", "app", "-x", "120", "-y", "35", *env_args,
         f"{sys.executable} {launcher}")
    try:
        deadline = time.monotonic() + 30
        # the footer's keys come a frame after the prompt, as in any Textual app
        while not all(text in (shown := tmux("capture-pane", "-p", "-t", "app")) for text in ("Ask for something", "palette")):
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)
        lines = shown.rstrip("\n").split("\n")
        assert len(lines) == 35 and "palette" in lines[-1], shown
        assert max(len(line) for line in lines) == 120, shown
        tmux("resize-window", "-t", "app", "-x", "100", "-y", "30")
        deadline = time.monotonic() + 15
        while True:
            lines = tmux("capture-pane", "-p", "-t", "app").rstrip("\n").split("\n")
            if len(lines) == 30 and "palette" in lines[-1] and max(len(line) for line in lines) == 100:
                break
            assert time.monotonic() < deadline, "\n".join(lines)
            time.sleep(0.2)
    finally:
        tmux("kill-server")
