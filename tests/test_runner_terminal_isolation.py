"""Code never reaches the app's terminal: fd-level output of a kernel shows in the console, as text (tmux)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_shutdown_signals import Launched, capture, wait_for

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"), pytest.mark.timeout(180)]

FD_LEVEL = (
    "Writing below Python:\n\n```python\nimport os\n"
    "os.system(\"printf '\\\\033]0;pwned\\\\007'; echo fd-level-ok\")\n"
    "os.write(2, b'\\033]2;pwned-too\\007raw-fd2-ok\\n')\n```\n"
)


def pane_title(session: str) -> str:
    return subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_title}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_fd_level_output_shows_in_the_console_not_on_the_terminal(tmp_path: Path, llm) -> None:
    llm.queue(FD_LEVEL, "Both printed.")
    launched = Launched(tmp_path, llm, plain=False)
    try:
        wait_for(lambda: "Ask for something" in capture(launched.session), "the prompt", 30, launched.session)
        title = pane_title(launched.session)
        launched.type("write at the fd level")
        screen = wait_for(lambda: (s := capture(launched.session)) and "Both printed." in s and s,
                          "the turn to end", 90, launched.session)
        assert "fd-level-ok" in screen and "raw-fd2-ok" in screen, screen
        for line in screen.splitlines():  # shown inside the app's panes (transcript, console), never drawn raw
            if "fd-level-ok" in line or "raw-fd2-ok" in line:
                assert "█" in line or "│" in line, f"written over the screen: {line!r}"
        assert "pwned" not in pane_title(launched.session) and pane_title(launched.session) == title
        assert "Ask for something" in screen  # the app's own screen is intact around it
    finally:
        launched.close()
