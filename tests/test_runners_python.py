"""The Python runner against a real IPython kernel."""

from __future__ import annotations

import base64
import os
import threading
import time

import pytest

from oi_core.computer.computer import Computer, merge_outputs
from oi_core.computer.languages.python import Python


class AnswerIO:
    def __init__(self, answers):
        self.answers = list(answers)
        self.prompts = []

    async def request_input(self, prompt, password=False):
        self.prompts.append((prompt, password))
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


@pytest.fixture(scope="module")
def computer():
    c = Computer()
    c.languages = [Python]
    c._loop_thread().run(c.terminal.astart("python"))
    yield c
    c.terminate()
    c._loop_thread().stop()


def text(messages):
    return "".join(str(m.get("content")) for m in messages if m.get("format") == "output")


def chunks(c, code, io=None):
    return list(c._loop_thread().iterate(c.arun("python", code, io)))


def test_state_persists_and_output_streams(computer):
    assert text(computer.run("python", "x = 41\nprint('hello')")) == "hello\n"
    assert text(computer.run("python", "x + 1")) == "42\n"


def test_warm_run_is_fast(computer):
    computer.run("python", "pass")
    start = time.perf_counter()
    for _ in range(5):
        computer.run("python", "print(1)")
    assert (time.perf_counter() - start) / 5 < 0.2


def test_traceback_keeps_user_line_numbers(computer):
    out = text(computer.run("python", "a = 1\nb = 2\n1/0\n"))
    assert "ZeroDivisionError" in out and "line 3" in out
    assert "\x1b[" not in out


def test_image_and_html(computer):
    code = (
        "import io\nfrom PIL import Image as PILImage\nfrom IPython.display import Image, HTML, display\n"
        "buf = io.BytesIO(); PILImage.new('RGB', (4, 3), 'red').save(buf, 'PNG')\n"
        "display(Image(data=buf.getvalue()))\ndisplay(HTML('<b>bold</b>'))\n"
    )
    got = chunks(computer, code)
    images = [c for c in got if c["type"] == "image"]
    assert images and images[0]["format"] == "base64.png"
    assert base64.b64decode(images[0]["content"]).startswith(b"\x89PNG")
    assert {"role": "computer", "type": "code", "format": "html", "content": "<b>bold</b>"} in got


def test_active_line_without_touching_code(computer):
    code = "import time\ntime.sleep(0.15)\ny = 0\ntime.sleep(0.15)\n"
    got = chunks(computer, code)
    lines = [c["content"] for c in got if c.get("format") == "active_line"]
    assert 2 in lines and 4 in lines
    assert lines[-1] is None


def test_stop_mid_loop_keeps_state(computer):
    computer.run("python", "kept = 'yes'")
    stopped_at = {}

    def stopper():
        time.sleep(0.4)
        stopped_at["t"] = time.perf_counter()
        computer.stop()

    threading.Thread(target=stopper).start()
    result = computer.run("python", "n = 0\nwhile True:\n    n += 1\n")
    assert time.perf_counter() - stopped_at["t"] < 0.5
    assert "KeyboardInterrupt" not in text(result)
    assert text(computer.run("python", "print(kept, n > 0)")) == "yes True\n"


def test_input_round_trip(computer):
    io = AnswerIO(["Ada"])
    got = merge_outputs(chunks(computer, "name = input('Name? ')\nprint('hi', name)", io))
    assert io.prompts == [("Name? ", False)]
    assert text(got).endswith("hi Ada\n")


def test_input_eof_does_not_hang(computer):
    start = time.perf_counter()
    out = text(merge_outputs(chunks(computer, "input('x? ')", AnswerIO([]))))
    assert "EOFError" in out
    assert time.perf_counter() - start < 5


def test_kernel_death_and_recovery(computer):
    computer.run("python", "before = 1")
    out = text(computer.run("python", "import os\nos._exit(1)"))
    assert "kernel died" in out and out.count("\n") == 1
    assert text(computer.run("python", "print('back')")) == "back\n"
    assert "NameError" in text(computer.run("python", "before"))


def test_big_output_is_coalesced_and_loop_stays_free(computer):
    loop_thread = computer._loop_thread()
    gaps = []

    async def ticker(stop):
        import asyncio
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    stop = threading.Event()
    import asyncio
    tick = asyncio.run_coroutine_threadsafe(ticker(stop), loop_thread.loop)
    got = chunks(computer, "for i in range(200000):\n    print(i)\n")
    stop.set()
    tick.result(5)
    out = [c for c in got if c.get("format") == "output"]
    joined = "".join(c["content"] for c in out)
    assert joined.startswith("0\n1\n") and joined.endswith("199999\n")
    assert len(out) < 2000
    assert max(len(c["content"]) for c in out) <= 64 * 1024
    assert max(gaps) < 0.25


def test_terminate_leaves_no_kernel_process():
    c = Computer()
    c.languages = [Python]
    assert text(c.run("python", "print(2)")) == "2\n"
    pid = c.terminal.get_language("python")._kernel.pid
    c.terminate()
    c._loop_thread().stop()
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_kernel_death_while_idle_is_reported_on_next_run(computer):
    runner = computer.terminal.get_language("python")
    computer.run("python", "print(0)")
    import signal
    os.kill(runner._kernel.pid, signal.SIGKILL)
    time.sleep(0.3)
    out = text(computer.run("python", "print('fresh')"))
    assert "variables were reset" in out and out.endswith("fresh\n")


def test_same_kernel_serves_another_event_loop(computer):
    import asyncio

    computer.run("python", "shared = 'from the sync API'")

    async def consume():
        return [chunk async for chunk in computer.arun("python", "print(shared)")]

    got = asyncio.run(consume())
    assert text(got) == "from the sync API\n"
    assert text(computer.run("python", "print(2)")) == "2\n"


class NeverAnswers:
    async def request_input(self, prompt, password=False):
        import asyncio

        await asyncio.Event().wait()


def _stop_after(computer, delay, stamp):
    def stopper():
        time.sleep(delay)
        stamp["t"] = time.perf_counter()
        computer.stop()

    threading.Thread(target=stopper).start()


def test_stop_while_sleeping_or_waiting_for_input(computer):
    stamp = {}
    _stop_after(computer, 0.3, stamp)
    computer.run("python", "import time\ntime.sleep(30)")
    assert time.perf_counter() - stamp["t"] < 0.5
    _stop_after(computer, 0.3, stamp)
    chunks(computer, "answer = input('never? ')", NeverAnswers())
    assert time.perf_counter() - stamp["t"] < 0.5
    assert text(computer.run("python", "print('still here')")) == "still here\n"


def test_code_that_swallows_interrupts_is_killed(computer):
    stamp = {}
    _stop_after(computer, 0.3, stamp)
    code = "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass\n"
    out = text(computer.run("python", code))
    assert time.perf_counter() - stamp["t"] < 1.5
    assert "ignored the interrupt" in out
    assert text(computer.run("python", "print('fresh')")) == "fresh\n"


def test_segfault_is_detected(computer):
    out = text(computer.run("python", "import ctypes\nctypes.string_at(0)"))
    assert "kernel died" in out
    assert text(computer.run("python", "print('ok')")) == "ok\n"


def test_ten_megabytes_of_output_is_bounded(computer):
    got = chunks(computer, "print('x' * 10_000_000)\nprint('end')")
    out = "".join(c["content"] for c in got if c.get("format") == "output")
    assert out.startswith("xxx") and out.endswith("end\n")
    assert len(out) <= 5_000_000 and "characters of output skipped" in out


def test_input_right_after_a_fresh_kernel_starts_is_never_lost():
    """The kernel drops input requests sent before our stdin socket's handshake: start must wait for it."""
    import asyncio

    async def fresh_kernel_asks() -> str:
        runner = Python()
        try:
            io = AnswerIO(["quick"])
            parts = [c async for c in runner.arun("print(input('now? '))", io)]
            return "".join(str(c.get("content")) for c in parts if c.get("format") == "output")
        finally:
            await runner.aterminate()

    async def several() -> list[str]:
        return [await asyncio.wait_for(fresh_kernel_asks(), 30) for _ in range(6)]

    assert asyncio.run(several()) == ["quick\n"] * 6


def test_one_line_block_reports_its_line_then_none(computer):
    got = chunks(computer, "\n# set up\nprint('quick')")
    shown = [c for c in got if c.get("format") in ("active_line", "output")]
    assert shown[0] == {"role": "computer", "type": "console", "format": "active_line", "content": 3}
    assert shown[-1]["format"] == "active_line" and shown[-1]["content"] is None
    assert [c["content"] for c in shown if c["format"] == "active_line"] == [3, None]


def test_file_descriptor_output_is_captured_and_cleaned(computer):
    """os.system, subprocesses and os.write reach the run's output, never the app's terminal."""
    code = (
        "import os, subprocess\n"
        "os.system(\"printf '\\\\033]0;pwned\\\\007'; echo fd-level-ok\")\n"
        "subprocess.run(['echo', 'child-ok'])\n"
        "os.write(2, b'fd2-ok\\n')\n"
    )
    out = text(computer.run("python", code))
    for expected in ("fd-level-ok\n", "child-ok\n", "fd2-ok\n"):
        assert expected in out
    assert "\x1b" not in out and "pwned" not in out


def test_kernel_has_no_terminal(computer):
    out = text(computer.run("python", "import os, sys\nprint(os.getsid(0) == os.getpid(), os.isatty(0), os.ttyname(0) if os.isatty(0) else None)"))
    assert out == "True False None\n"
    code = "try:\n    open('/dev/tty').close()\n    print('has-tty')\nexcept OSError:\n    print('no-tty')\n"
    assert text(computer.run("python", code)) == "no-tty\n"


def test_stop_ends_subprocesses_the_run_started(computer):
    from tests.test_runners_other import stop_later
    from tests.test_runners_shell import alive_with_marker, wait_gone

    computer.run("python", "import subprocess\nearlier = subprocess.Popen(['sleep', '1005.25'], start_new_session=True)")
    code = (
        "import subprocess, signal, time\n"
        "a = subprocess.Popen(['sleep', '1005.5'], start_new_session=True)\n"
        "b = subprocess.Popen(['sh', '-c', 'trap \"\" INT; sleep 1005.75'])\n"
        "time.sleep(30)\n"
    )
    stopping = stop_later(computer, 1.0)
    computer.run("python", code)
    stopping.result(5).result(timeout=5)
    assert not wait_gone("1005.5") and not wait_gone("1005.75")
    assert alive_with_marker("1005.25"), "Stop ended a process an earlier run had started"
    computer.run("python", "earlier.kill(); earlier.wait()")
