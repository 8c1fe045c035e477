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


class PromptIO:
    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = []

    async def request_input(self, prompt, password=False):
        self.asked.append((prompt, password))
        return self.answers.pop(0)


def test_read_p_prompt_is_the_input_request_prompt(computer):
    io = PromptIO(["Ada", "s3cret"])
    out = text(merge_outputs(chunks(computer, 'read -p "Name? " who\nread -rsp "Pass: " pw\necho "hi $who ${#pw}"', io)))
    assert io.asked == [("Name?", False), ("Pass:", True)]
    assert out.endswith("hi Ada 6\n")


def test_split_character_and_escapes_across_reads(computer):
    """Each printf is one read (the sleep parts them): the character and the escapes are cut between reads."""
    code = (
        "head -c 65535 /dev/zero | tr '\\0' a; printf '\\xc3'; sleep 0.3; printf '\\xa9|'\n"
        "printf 'x\\033]0;pw'; sleep 0.3; printf 'ned\\007y\\033['; sleep 0.3; printf '31mred\\033[0m\\n'\n"
    )
    out = text(merge_outputs(chunks(computer, code)))
    assert out == "a" * 65535 + "é|xyred\n"


def test_one_line_block_reports_its_line_then_none(computer):
    got = chunks(computer, "# a comment\n\necho quick")
    lines = [c for c in got if c.get("format") in ("active_line", "output")]
    assert lines[0] == {"role": "computer", "type": "console", "format": "active_line", "content": 3}
    assert lines[-1]["format"] == "active_line" and lines[-1]["content"] is None
    assert [c["content"] for c in lines if c["format"] == "active_line"] == [3, None]


def alive_with_marker(marker: str) -> list[int]:
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        with open(f"/proc/{entry}/stat", "rb") as f:
                            if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                                found.append(int(entry))
            except OSError:
                pass
    return found


def wait_gone(marker: str, timeout: float = 3.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := alive_with_marker(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


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


def test_stop_ends_background_jobs_nohup_and_setsid_children(computer):
    computer.run("shell", "sleep 1001.25 &")  # an earlier run's job: Stop of a later run leaves it alone
    stopping = stop_later(computer, 0.8)
    code = (
        "sleep 1001.5 &\nnohup sleep 1001.75 >/dev/null 2>&1 &\nsetsid sleep 1002.25 &\n"
        "( trap '' INT TERM; sleep 1002.5 ) &\nsleep 30\n"
    )
    computer.run("shell", code)
    stopping.result(5).result(timeout=5)
    for marker in ("1001.5", "1001.75", "1002.25", "1002.5"):
        assert not wait_gone(marker), f"sleep {marker} survived Stop"
    assert alive_with_marker("1001.25"), "Stop ended a job an earlier run had started"
    assert text(computer.run("shell", "echo still")) == "still\n"


def test_terminate_ends_every_job_of_the_shell():
    c = Computer()
    c.languages = [Shell]
    try:
        c.run("shell", "sleep 1003.25 &\nsetsid sleep 1003.5 &")
        deadline = time.monotonic() + 5
        while not (alive_with_marker("1003.25") and alive_with_marker("1003.5")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive_with_marker("1003.25") and alive_with_marker("1003.5")
    finally:
        c.terminate()
        c._loop_thread().stop()
    assert not wait_gone("1003.25") and not wait_gone("1003.5")


def test_back_to_back_reads_each_ask_with_their_own_prompt(computer):
    """Each answer wakes the next `read` at once: its prompt and secrecy are not lost to the previous answer."""
    n = 12
    io = PromptIO([f"v{i}" for i in range(n)])
    code = "".join(f'read -r{"s" if i % 2 else ""}p "Q{i}: " a{i}\n' for i in range(n)) + 'echo "got $a0 $a11"'
    out = text(merge_outputs(chunks(computer, code, io)))
    assert io.asked == [(f"Q{i}:", bool(i % 2)) for i in range(n)]
    assert out.endswith("got v0 v11\n")


def test_stop_works_when_the_app_was_started_ignoring_interrupts():
    """`oi-tui --server &` from a script starts with SIGINT ignored; bash inherits that unless reset."""
    import signal

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        c = Computer()
        c.languages = [Shell]
        c.run("shell", "KEEP=1")  # the shell starts while the app ignores SIGINT
    finally:
        signal.signal(signal.SIGINT, before)
    try:
        threading.Timer(0.3, c.stop).start()
        started = time.perf_counter()
        out = text(c.run("shell", "while true; do sleep 0.05; done\necho never"))
        assert time.perf_counter() - started < 3
        assert "never" not in out and "killed" not in out, out
        assert text(c.run("shell", "echo $KEEP")) == "1\n", "the shell survived Stop"
    finally:
        c.terminate()
