"""`--plain` and `chat(display=True)` write nothing a terminal would obey (issue 10 §2), and say when approval changes.

A scripted reply carries OSC 0 (window title) and OSC 52 (clipboard write) sequences in its prose and in
its code, and the code prints them too. `oi-tui --plain` runs under `script` (a real pty, so it takes
the interactive path) and through a pipe; the bytes it wrote must never contain those sequences.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm_server import Reply

ROOT = Path(__file__).resolve().parent.parent
TITLE = "\x1b]0;pwned-title\x07"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
FORBIDDEN = (b"\x1b]0;", b"\x1b]52;", b"pwned-title\x07", b"\x9d")


def hostile_reply() -> Reply:
    code = "printf '\\033]0;pwned-title\\007\\033]52;c;cm0gLXJmIH4=\\007printed-ok\\n'"
    text = f"Here{TITLE} you go{CLIPBOARD}.\n```shell\n# {TITLE}{CLIPBOARD}\n{code}\n```\n"
    return Reply(text=text, chunk_size=3)  # small chunks split every sequence across chunks


def command(llm, *flags: str) -> list[str]:
    return [sys.executable, "-m", "oi_tui.cli", "--plain", "--model", "openai/test-model", "--api_base", llm.url,
            "--api_key", "x", "--no-llm_supports_functions", *flags]


def assert_clean(raw: bytes) -> None:
    for bad in FORBIDDEN:
        assert bad not in raw, f"{bad!r} reached the terminal"


def test_pipe_output_carries_no_terminal_escapes(llm) -> None:
    llm.queue(hostile_reply(), "Done.")
    result = subprocess.run(command(llm, "-y"), input=b"go\n", capture_output=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout)
    assert_clean(result.stderr)
    out = result.stdout.decode()
    assert "Here you go." in out and "printed-ok" in out and "Done." in out


def run_in_pty(llm, stdin: str, *flags: str, timeout: int = 120) -> bytes:
    cmd = " ".join(shlex.quote(part) for part in command(llm, *flags))
    result = subprocess.run(["script", "-q", "-e", "-c", cmd, "/dev/null"], input=stdin.encode(),
                            capture_output=True, cwd=ROOT, timeout=timeout, env={**os.environ, "TERM": "xterm"})
    return result.stdout + result.stderr


def test_terminal_output_carries_no_terminal_escapes(llm) -> None:
    llm.queue(hostile_reply(), "Done.")
    raw = run_in_pty(llm, "go\n", "-y")
    assert_clean(raw)
    text = raw.decode(errors="replace")
    assert "Here you go." in text and "printed-ok" in text and "Done." in text


def test_terminal_approval_prompt_is_clean_and_answered(llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    llm.queue(Reply(text=f"```shell\n# {TITLE}\ntouch {marker}\n```\n", chunk_size=2), "Done.")
    raw = run_in_pty(llm, "go\ny\n")
    assert_clean(raw)
    assert b"Run this shell code? [y/N]" in raw
    assert marker.exists()


def test_yes_flag_with_safe_mode_still_asks_through_the_real_command(llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    llm.queue(f"```shell\ntouch {marker}\n```\n")
    result = subprocess.run(command(llm, "-y", "--safe_mode", "ask"), input=b"go\n", capture_output=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "-y --safe_mode ask ran code without approval"
    err = result.stderr.decode()
    assert "Safe mode ask is on, so code waits for your approval although auto-run is on." in err
    assert "code not run: safe mode needs your approval" in err


def test_yes_flag_with_safe_mode_asks_on_a_terminal_too(llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    llm.queue(f"```shell\ntouch {marker}\n```\n")
    raw = run_in_pty(llm, "go\nn\n", "-safe", "ask", "-y")
    assert not marker.exists()
    assert b"Approval needed although auto-run is on: safe mode ask." in raw
    assert b"Run this shell code? [y/N]" in raw


@pytest.mark.parametrize("source", ["flag", "profile"])
def test_auto_run_is_announced_on_stderr_once(llm, tmp_path, source) -> None:
    llm.queue("Hello.")
    flags = ["-y"]
    if source == "profile":
        profile = tmp_path / "runs.yaml"
        profile.write_text("auto_run: true\n")
        flags = ["--profile", str(profile)]
    result = subprocess.run(command(llm, *flags), input=b"hi\n", capture_output=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.decode().splitlines() if line.strip()]
    assert lines == ["oi-tui: Auto-run is on: code the model writes runs without asking you first."]


def test_no_notice_without_auto_run(llm) -> None:
    llm.queue("Hello.")
    result = subprocess.run(command(llm), input=b"hi\n", capture_output=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stderr == b""


def test_safe_mode_without_semgrep_warns_once_at_start_and_on_each_block(llm, tmp_path) -> None:
    llm.queue("```shell\necho one\n```\n", "```shell\necho two\n```\n")
    env = {**os.environ, "OI_TUI_SEMGREP": str(tmp_path / "no-semgrep-here"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command(llm, "--safe_mode", "auto"), input=b"first\nsecond\n", capture_output=True,
                            cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    err, out = result.stderr.decode(), result.stdout.decode()
    assert err.count("Safe mode cannot scan code") == 1
    assert out.count("not scanned: ") == 2


def test_display_true_output_carries_no_terminal_escapes(make_interpreter, llm, capfd) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue(hostile_reply(), "Done.")
    interp.chat("go", display=True)
    captured = capfd.readouterr()
    raw = (captured.out + captured.err).encode()
    assert_clean(raw)
    assert "Here you go." in captured.out and "printed-ok" in captured.out


def test_display_true_asks_with_risks_and_cut_off_code_needs_c(make_interpreter, llm, tmp_path, capfd, monkeypatch) -> None:
    marker = tmp_path / "ran"
    answers = iter(["y", "c"])
    questions: list[str] = []

    def fake_input(question: str = "") -> str:
        questions.append(question)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    interp = make_interpreter()
    llm.queue(Reply(text=f"```shell\nsudo true\ntouch {marker}", finish_reason="length"), "Done.")
    interp.chat("go", display=True)
    out = capfd.readouterr().out
    assert "! This code was cut off by the token limit and is incomplete." in out
    assert "risk (high) line 1: uses sudo" in out
    assert questions == ["\nRun this cut-off shell code as it is? [c = run it anyway / N] "]
    assert not marker.exists()  # "y" is no confirmation for cut-off code
    assert interp.messages[-1]["not_run"]


def test_yes_flag_with_a_failed_checkpoint_says_why_not_to_use_yes(llm, tmp_path) -> None:
    """Piped, -y given, no checkpoint possible: the note names the checkpoint, never "run with -y"."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder's parent should be")  # nobody can create a folder under it
    project = tmp_path / "project"
    project.mkdir()
    llm.queue("```shell\necho ran > ran.txt\n```\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(blocker / "state")}
    result = subprocess.run(command(llm, "-y"), input=b"go\n", capture_output=True, cwd=project, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (project / "ran.txt").exists()
    err = result.stderr.decode()
    assert "code not run: approval is needed because no checkpoint could be taken" in err, err
    assert "Run with -y" not in err
