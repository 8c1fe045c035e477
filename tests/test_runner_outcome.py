"""Runners report a failed run (the `outcome` chunk), never a stopped one; the language table is cached honestly."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from oi_core.computer.base import Language
from oi_core.computer.computer import Computer
from oi_core.computer.languages.process import JavaScript, ProcessLanguage
from oi_core.computer.languages.python import Python
from oi_core.computer.languages.shell import Shell

FAILED = {"role": "computer", "type": "console", "format": "outcome", "content": "error"}
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def computer():
    c = Computer()
    c.languages = [Python, Shell, JavaScript]
    yield c
    c.terminate()
    c._loop_thread().stop()


def run(computer, language, code, stop_after=None):
    """All chunks of one run; with `stop_after`, the user stops it once that text has been output."""
    got = []
    for chunk in computer._loop_thread().iterate(computer.arun(language, code)):
        got.append(chunk)
        if stop_after and stop_after in str(chunk.get("content")) and chunk.get("format") == "output":
            asyncio.run_coroutine_threadsafe(computer.astop(), computer._loop_thread().loop)
    return got


def verdicts(chunks):
    return [c for c in chunks if c.get("format") == "outcome"]


def assert_failed(chunks):
    assert verdicts(chunks) == [FAILED]
    assert chunks[-2] == FAILED and chunks[-1]["format"] == "active_line" and chunks[-1]["content"] is None


@pytest.mark.parametrize("code, failed", [
    ("x = 1\nraise ValueError('boom')", True),
    ("import sys\nsys.stderr.write('only a warning\\n')", False),
    ("print('fine')", False),
])
def test_python_cell_that_raises_failed(computer, code, failed):
    chunks = run(computer, "python", code)
    if failed:
        assert_failed(chunks)
    else:
        assert verdicts(chunks) == []


def test_a_stopped_python_cell_has_not_failed(computer):
    chunks = run(computer, "python", "import time\nprint('started', flush=True)\ntime.sleep(60)", stop_after="started")
    assert verdicts(chunks) == []
    assert "1" in str(run(computer, "python", "print(1)"))  # the kernel lives on


@pytest.mark.parametrize("code, failed", [
    ("echo before\nfalse", True),  # the block's status is its last command's
    ("false\necho after", False),
    ("ls /definitely/not/here", True),
    ("(exit 7)", True),
    ("true", False),
])
def test_shell_block_failed_when_its_exit_status_is_not_zero(computer, code, failed):
    chunks = run(computer, "shell", code)
    if failed:
        assert_failed(chunks)
    else:
        assert verdicts(chunks) == []


def test_exit_in_a_shell_block_is_its_status(computer):
    assert_failed(run(computer, "shell", "echo bye\nexit 4"))
    assert verdicts(run(computer, "shell", "exit 0")) == []
    assert verdicts(run(computer, "shell", "echo again")) == []  # a new shell


def test_a_stopped_shell_block_has_not_failed(computer):
    assert verdicts(run(computer, "shell", "echo started\nsleep 60", stop_after="started")) == []


@needs_node
def test_node_exiting_non_zero_failed(computer):
    assert_failed(run(computer, "javascript", "console.log('x'); process.exit(3)"))
    assert_failed(run(computer, "javascript", "throw new Error('boom')"))
    assert verdicts(run(computer, "javascript", "console.log('fine')")) == []


@needs_node
def test_a_stopped_node_run_has_not_failed(computer):
    chunks = run(computer, "javascript", "console.log('started'); setInterval(() => {}, 1000)", stop_after="started")
    assert verdicts(chunks) == []


def test_computer_run_marks_the_output_of_a_failed_run(computer):
    assert computer.run("shell", "echo out\nfalse") == [
        {"role": "computer", "type": "console", "format": "output", "content": "out\nExit status: 1\n", "status": "error"}
    ]
    assert computer.run("shell", "echo out") == [
        {"role": "computer", "type": "console", "format": "output", "content": "out\n"}
    ]


def test_code_that_could_not_run_failed():
    c = Computer()

    class Cobol(ProcessLanguage):
        name = "cobol"
        file_extension = "cob"
        executables = ("definitely-not-installed-cobc",)
        install_hint = "install GnuCOBOL."

    c.languages = [Cobol]
    try:
        assert verdicts(list(c._loop_thread().iterate(c.arun("cobol", "DISPLAY 'HI'.")))) == [FAILED]
        assert verdicts(list(c._loop_thread().iterate(c.arun("fortran", "x")))) == [FAILED]
    finally:
        c._loop_thread().stop()


class Counted(Language):
    """A language whose runtime is a program on the PATH; counts how often it is looked up."""

    name = "counted"
    lookups = 0

    def missing_runtime(self):
        type(self).lookups += 1
        return None if shutil.which("oi-counted-runtime") else "Install oi-counted-runtime."


def test_available_languages_is_cached_until_the_table_or_path_changes(tmp_path, monkeypatch):
    c = Computer()
    c.languages = [Counted]
    Counted.lookups = 0
    assert c.terminal.available_languages() == []
    for _ in range(5):
        assert c.terminal.available_languages() == []
    assert Counted.lookups == 1

    runtime = tmp_path / "oi-counted-runtime"
    runtime.write_text("#!/bin/sh\n")
    runtime.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert c.terminal.available_languages() == ["counted"]  # PATH changed: looked up again
    assert Counted.lookups == 2

    c.terminal.languages.append(Shell)  # edited in place
    assert c.terminal.available_languages() == ["counted", "shell"]
    c.languages = [Shell]  # replaced
    assert c.terminal.available_languages() == ["shell"]
    names = c.terminal.available_languages()
    names.append("mutated")  # callers get a copy
    assert c.terminal.available_languages() == ["shell"]
