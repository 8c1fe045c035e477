"""Node, HTML, missing runtimes, custom languages and the language table."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from oi_core.computer.computer import Computer
from oi_core.computer.languages.process import JavaScript, ProcessLanguage


def text(messages):
    return "".join(str(m.get("content")) for m in messages if m.get("format") == "output")


@pytest.fixture
def computer():
    c = Computer()
    yield c
    c.terminate()
    c._loop_thread().stop()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_runs_and_reports_errors(computer):
    assert text(computer.run("javascript", "console.log([1, 2].map(x => x * 2).join(','))")) == "2,4\n"
    out = text(computer.run("js", "throw new Error('boom')"))
    assert "boom" in out and "Exit status: 1" in out


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_stop(computer):
    """A stop from another thread returns even when the loop is stopped right after the run it stopped.

    (It used to wait for ever: the stop was still waiting on a thread-pool `Event.wait` when the run
    ended and the test's teardown stopped the loop, so pytest hung at exit on the stopper thread.)
    """
    for _ in range(5):
        stopping = stop_later(computer, 0.3)
        start = time.perf_counter()
        computer.run("javascript", "while (true) {}")
        assert time.perf_counter() - start < 1.5
        computer._loop_thread().stop()  # what the fixture's teardown does
        stopping.result(5).result(timeout=5)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_stop_ends_detached_children(computer):
    from tests.test_runners_shell import alive_with_marker, wait_gone

    code = (
        "const { spawn } = require('child_process');\n"
        "spawn('sleep', ['1004.25'], { detached: true, stdio: 'ignore' }).unref();\n"
        "spawn('sleep', ['1004.5'], { stdio: 'inherit' });\n"
        "process.on('SIGINT', () => {}); process.on('SIGTERM', () => {});\n"
        "setInterval(() => {}, 1000);\n"
    )
    stopping = stop_later(computer, 1.0)
    computer.run("javascript", code)
    stopping.result(5).result(timeout=5)
    assert not wait_gone("1004.25") and not wait_gone("1004.5")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_output_split_between_reads(computer):
    """The character and the escape are cut exactly between two writes (and so two reads) of the pipe."""
    code = (
        "const w = (b) => process.stdout.write(Buffer.from(b));\n"
        "w('a'.repeat(65535)); w([0xc3]);\n"
        "setTimeout(() => { w([0xa9, 0x7c, 0x1b, 0x5b, 0x33]);\n"
        "  setTimeout(() => w('1mred\\x1b[0m\\n'), 300); }, 300);\n"
    )
    assert text(computer.run("javascript", code)) == "a" * 65535 + "é|red\n"


def stop_later(computer, delay):
    """Stop the run from another thread after `delay`; the future is that stop, on the runs' loop."""
    import asyncio
    import concurrent.futures

    submitted = concurrent.futures.Future()

    def stopper():
        time.sleep(delay)
        submitted.set_result(asyncio.run_coroutine_threadsafe(computer.astop(), computer._loop_thread().loop))

    threading.Thread(target=stopper, daemon=True).start()
    return submitted


def test_html_comes_back_as_html(computer):
    got = computer.run("html", "<h1>Hi</h1>")
    assert {"role": "computer", "type": "code", "format": "html", "content": "<h1>Hi</h1>"} in got


def test_missing_runtime_names_what_to_install(computer):
    class Cobol(ProcessLanguage):
        name = "cobol"
        display_name = "COBOL"
        file_extension = "cob"
        executables = ("definitely-not-installed-cobc",)
        install_hint = "install GnuCOBOL so that `cobc` is on the PATH."

    computer.languages = [Cobol, JavaScript]
    out = text(computer.run("cobol", "DISPLAY 'HI'."))
    assert out == "COBOL can't run here: install GnuCOBOL so that `cobc` is on the PATH."
    assert "cobol" not in computer.terminal.available_languages()


def test_builtin_missing_runtimes_are_one_sentence(computer):
    for name in ("r", "ruby", "powershell", "applescript", "java"):
        runner = computer.terminal.get_language(name)
        message = runner.missing_runtime()
        if message is not None:
            assert message.endswith(".") and message.count(". ") == 0 and "install" in message.lower() or "macOS" in message


class Echo:
    """A custom language shaped exactly like the reference's example."""

    name = "echo"
    system_message = "Echo prints what you give it."

    def __init__(self):
        self.stopped = False

    def run(self, code):
        for line in code.splitlines():
            yield {"type": "console", "format": "output", "content": line.upper() + "\n"}

    def stop(self):
        self.stopped = True

    def terminate(self):
        pass


def test_custom_language_replaces_the_table(computer):
    computer.languages = [Echo]
    assert computer.terminal.language_names() == ["echo"]
    assert text(computer.run("echo", "a\nb")) == "A\nB\n"
    assert "python" in text(computer.run("python", "print(1)")).lower()  # no longer available
    computer.languages = [Echo()]
    assert text(computer.run("echo", "c")) == "C\n"


def test_default_table_lists_builtins(computer):
    names = computer.terminal.language_names()
    for name in ("python", "shell", "javascript", "html", "r", "ruby", "java", "powershell", "applescript"):
        assert name in names
    assert {"python", "shell", "html"} <= set(computer.terminal.available_languages())


def test_stop_returns_when_the_loop_stops_under_it():
    """Computer.stop() from another thread must not wait for ever on a loop that is stopped meanwhile."""
    import asyncio

    from oi_core.computer.base import Language

    class SlowToStop(Language):
        name = "slowstop"

        async def arun(self, code, io):
            self.stop_asked = asyncio.Event()
            await self.stop_asked.wait()
            yield {"type": "console", "format": "output", "content": "stopped\n"}

        async def astop(self):
            self.stop_asked.set()
            await asyncio.sleep(30)  # clean-up still going when the run has already ended

    c = Computer()
    c.languages = [SlowToStop]
    returned = threading.Event()

    def stopper():
        time.sleep(0.3)
        c.stop()
        returned.set()

    threading.Thread(target=stopper, daemon=True).start()
    assert text(c.run("slowstop", "")) == "stopped\n"
    c._loop_thread().stop()
    assert returned.wait(5), "Computer.stop() kept waiting on a stopped loop"
