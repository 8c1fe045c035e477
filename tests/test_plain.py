"""`--plain`: line mode end to end through a pipe, against the scripted LLM server."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from tests.llm_server import Reply

ROOT = Path(__file__).resolve().parent.parent


def plain(llm, stdin: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}  # carries the isolated XDG_* dirs and the test keyring backend
    return subprocess.run(
        [sys.executable, "-m", "oi_tui.cli", "--plain", "--model", "openai/test-model", "--api_base", llm.url,
         "--api_key", "x", "--no-llm_supports_functions", *flags],
        input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=90,
    )


def test_pipe_one_message(llm):
    llm.queue("Hello from the model.")
    result = subprocess.run(
        f"printf 'hi\\n' | {sys.executable} -m oi_tui.cli --plain --model openai/test-model "
        f"--api_base {llm.url} --api_key x",
        shell=True, capture_output=True, text=True, cwd=ROOT, env={**os.environ}, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "Hello from the model." in result.stdout
    assert result.stderr == ""
    assert llm.requests[-1]["model"] == "test-model"
    assert llm.requests[-1]["messages"][-1]["content"] == "hi"


def test_auto_run_runs_code_and_prints_fenced(llm):
    llm.queue("Let me compute.\n```python\nprint(6 * 7)\n```\n", "The answer is 42.")
    result = plain(llm, "what is 6*7\n", "-y")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Let me compute." in out
    assert "```python\nprint(6 * 7)\n```" in out
    assert "42\n" in out
    assert out.index("print(6 * 7)") < out.index("42\n") < out.index("The answer is 42.")
    assert len(llm.requests) == 2


def test_without_auto_run_code_is_declined_with_note(llm):
    llm.queue("```python\nprint('should not run')\n```", "Okay, I won't.")
    result = plain(llm, "do it\n")
    assert result.returncode == 0
    assert "should not run\n" not in result.stdout.replace("print('should not run')", "")
    assert "-y" in result.stderr and "not run" in result.stderr
    assert len(llm.requests) == 1  # declining ends the turn


def test_several_lines_are_several_messages_and_magic_works(llm, tmp_path):
    llm.queue("first reply", "second reply")
    saved = tmp_path / "saved.json"
    result = plain(llm, f"one\n\ntwo\n%save_message {saved}\n%undo\n%undoo\n")
    assert result.returncode == 0, result.stderr
    assert "first reply" in result.stdout and "second reply" in result.stdout
    assert "Saved 4 messages" in result.stdout
    assert "Removed your last message" in result.stdout
    assert "Did you mean %undo?" in result.stderr
    assert saved.is_file() and "x" not in [m.get("content") for m in __import__("json").loads(saved.read_text())]
    assert len(llm.requests) == 2
    assert [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "user"][-1] == "two"


def test_llm_failure_is_one_line_on_stderr_and_nonzero(llm):
    llm.queue(Reply(status=401, error_message="bad key"))
    result = plain(llm, "hi\nnever sent\n")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("oi-tui: ") and "test-model" in lines[0]
    assert len(llm.requests) == 1  # stopped after the failure


def test_profile_warning_goes_to_stderr(llm, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm:\n  modell: x\n")
    llm.queue("fine")
    result = plain(llm, "hi\n", "--profile", str(bad))
    assert result.returncode == 0
    assert "llm.modell" in result.stderr and "line 2" in result.stderr
    assert "fine" in result.stdout


def test_in_process_interactive_approval(make_interpreter, llm):
    from oi_tui.plain import run_plain

    interp = make_interpreter()
    llm.queue("```python\nprint(40 + 2)\n```", "Done.")
    out, err = io.StringIO(), io.StringIO()
    code = run_plain(interp, stdin=io.StringIO("compute\ny\n"), stdout=out, stderr=err, interactive=True)
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert "Run this python code? [y/N]" in text
    assert "42\n" in text and "Done." in text


def test_in_process_input_when_piped(make_interpreter, llm):
    from oi_tui.plain import run_plain

    interp = make_interpreter(auto_run=True)
    llm.queue("```python\nname = input('name? ')\nprint('got', repr(name))\n```", "ok")
    out, err = io.StringIO(), io.StringIO()
    assert run_plain(interp, stdin=io.StringIO("ask me\n"), stdout=out, stderr=err, interactive=False) == 0
    assert "got ''" in out.getvalue()
    assert "input" in err.getvalue()
