"""The persistent bash runner."""

from __future__ import annotations

import threading
import time

import pytest

from oi_core.computer.computer import Computer, merge_outputs
from oi_core.computer.languages.shell import Shell


class AnswerIO:
    def __init__(self, answers):
        self.answers = list(answers)
        self.prompts = []

    async def request_input(self, prompt, password=False):
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


@pytest.fixture(scope="module")
def computer():
    c = Computer()
    c.languages = [Shell]
    yield c
    c.terminate()
    c._loop_thread().stop()


def text(messages):
    return "".join(str(m.get("content")) for m in messages if m.get("format") == "output")


def chunks(c, code, io=None):
    return list(c._loop_thread().iterate(c.arun("shell", code, io)))


def test_cd_and_variables_persist(computer, tmp_path):
    computer.run("bash", f"cd {tmp_path}\nGREETING=hello")
    assert text(computer.run("shell", "pwd; echo $GREETING")) == f"{tmp_path}\nhello\n"


def test_exit_status_reported_when_non_zero(computer):
    assert text(computer.run("shell", "echo ok")) == "ok\n"
    assert text(computer.run("shell", "echo fail >&2; false")) == "fail\nExit status: 1\n"


def test_active_line_follows_lines(computer):
    got = chunks(computer, "echo a\nsleep 0.1\necho b\n")
    lines = [c["content"] for c in got if c.get("format") == "active_line"]
    assert 2 in lines and 3 in lines and lines[-1] is None
    assert lines[:-1] == sorted(lines[:-1])
    assert text(merge_outputs(got)) == "a\nb\n"


def test_stop_mid_loop_keeps_shell(computer):
    computer.run("shell", "KEEP=1")
    stopped_at = {}

    def stopper():
        time.sleep(0.3)
        stopped_at["t"] = time.perf_counter()
        computer.stop()

    threading.Thread(target=stopper).start()
    out = text(computer.run("shell", "while true; do sleep 0.05; done\necho never"))
    assert time.perf_counter() - stopped_at["t"] < 0.5
    assert "never" not in out
    assert text(computer.run("shell", "echo $KEEP")) == "1\n"


def test_read_prompt_round_trip(computer):
    io = AnswerIO(["Ada"])
    out = text(merge_outputs(chunks(computer, "printf 'Name: '\nread who\necho hi $who", io)))
    assert io.prompts == ["Name:"]
    assert out.endswith("hi Ada\n")


def test_read_eof_does_not_hang(computer):
    start = time.perf_counter()
    out = text(merge_outputs(chunks(computer, "read x || echo eof", AnswerIO([]))))
    assert "eof" in out and time.perf_counter() - start < 5


def test_exit_restarts_shell(computer):
    out = text(computer.run("shell", "exit 3"))
    assert "shell exited" in out
    assert text(computer.run("shell", "echo back")) == "back\n"


def test_big_output(computer):
    got = chunks(computer, "seq 200000")
    out = [c for c in got if c.get("format") == "output"]
    joined = "".join(c["content"] for c in out)
    assert joined.startswith("1\n2\n") and joined.endswith("200000\n")
    assert len(out) < 500


def test_shell_serves_another_event_loop(computer):
    import asyncio

    computer.run("shell", "SHARED=yes")

    async def consume():
        return [chunk async for chunk in computer.arun("shell", "echo $SHARED")]

    assert text(asyncio.run(consume())) == "yes\n"
