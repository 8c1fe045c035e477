"""Python API approval: code runs only when the reader asks for the chunk after `confirmation` (issue 10 §2).

Every refusal path is checked against a real side effect: the code would create a file, and the file
must not exist afterwards. The conversation must say the code was not run, and the model must read it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time

import pytest

from oi_core.approval import NOT_RUN_NOTES

REFUSED = NOT_RUN_NOTES["refused"]


def touching(language: str, marker) -> str:
    if language == "python":
        return f"```python\nopen({str(marker)!r}, 'w').close()\nprint('made it')\n```"
    return f"```shell\ntouch '{marker}'\necho made it\n```"


def assert_refused_and_told(interp, llm, marker) -> None:
    assert not marker.exists(), "the code ran although the reader never approved it"
    assert interp.messages[-1] == {
        "role": "computer", "type": "console", "format": "output", "content": REFUSED, "not_run": True,
    }
    assert interp.status == "idle"
    llm.queue("Understood.")
    interp.chat("did it run?", display=False)
    sent = json.dumps(llm.requests[-1]["messages"])
    assert "was not run" in sent and "made it" not in sent.replace("print('made it')", "").replace("echo made it", "")


def until_confirmation(chunks) -> dict:
    for chunk in chunks:
        if chunk["type"] == "confirmation":
            return chunk
    raise AssertionError("no confirmation chunk")


@pytest.mark.parametrize("language", ["python", "shell"])
def test_break_at_the_confirmation_refuses(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker))
    for chunk in interp.chat("make the file", display=False, stream=True):
        if chunk["type"] == "confirmation":
            break
    time.sleep(0.5)  # a producer that raced ahead would have run the code by now
    assert_refused_and_told(interp, llm, marker)


@pytest.mark.parametrize("language", ["python", "shell"])
def test_break_after_a_delay_refuses(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker))
    gen = interp.chat("make the file", display=False, stream=True)
    for chunk in gen:
        if chunk["type"] == "confirmation":
            time.sleep(2)
            assert not marker.exists(), "the producer ran the code while the reader was still deciding"
            break
    gen.close()
    assert_refused_and_told(interp, llm, marker)


@pytest.mark.parametrize("language", ["python", "shell"])
def test_close_refuses(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker))
    gen = interp.chat("make the file", display=False, stream=True)
    until_confirmation(gen)
    gen.close()
    assert_refused_and_told(interp, llm, marker)


@pytest.mark.parametrize("language", ["python", "shell"])
def test_abandoning_the_generator_refuses(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker))
    gen = interp.chat("make the file", display=False, stream=True)
    until_confirmation(gen)
    time.sleep(1)  # the reader simply stops reading...
    assert not marker.exists()
    del gen  # ...and drops every reference
    gc.collect()
    deadline = time.monotonic() + 10
    while interp.status != "idle" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_refused_and_told(interp, llm, marker)


@pytest.mark.parametrize("language", ["python", "shell"])
def test_reading_on_past_the_confirmation_approves(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker), "Made.")
    chunks = list(interp.chat("make the file", display=False, stream=True))
    assert marker.exists()
    assert "made it\n" in "".join(c["content"] for c in chunks if c.get("format") == "output" and c["role"] == "computer")


def test_the_producer_waits_for_the_reader(make_interpreter, llm, tmp_path) -> None:
    """Lock-step: after the confirmation chunk nothing more happens until the reader asks."""
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching("shell", marker), "Made.")
    gen = interp.chat("make the file", display=False, stream=True)
    confirmation = until_confirmation(gen)
    assert confirmation["content"]["content"].startswith("touch")
    time.sleep(1.5)
    assert not marker.exists() and interp.status == "awaiting_approval"
    rest = list(gen)
    assert marker.exists()
    assert rest[-1] == {"role": "assistant", "type": "message", "end": True}


def test_non_streaming_chat_without_auto_run_declines(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching("shell", marker))
    new = interp.chat("make the file", display=False)
    assert not marker.exists()
    assert new[-1]["content"] == "The user declined to run this code." and new[-1]["not_run"] is True


# ---------------------------------------------------------------- async


@pytest.mark.parametrize("language", ["python", "shell"])
async def test_async_aclose_refuses(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker))
    agen = interp.achat("make the file")
    async for chunk in agen:
        if chunk["type"] == "confirmation":
            break
    await asyncio.sleep(0.5)
    assert not marker.exists()
    await agen.aclose()
    assert not marker.exists()
    assert interp.messages[-1]["content"] == REFUSED and interp.messages[-1]["not_run"] is True
    await interp.computer.aterminate()


@pytest.mark.parametrize("language", ["python", "shell"])
async def test_async_abandoning_refuses(make_interpreter, llm, tmp_path, language) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching(language, marker))
    agen = interp.achat("make the file")
    async for chunk in agen:
        if chunk["type"] == "confirmation":
            break
    await asyncio.sleep(1)
    del agen, chunk
    gc.collect()
    for _ in range(100):  # the loop's async-generator finaliser closes it on a later iteration
        await asyncio.sleep(0.05)
        if interp.messages[-1].get("not_run"):
            break
    assert not marker.exists()
    assert interp.messages[-1]["content"] == REFUSED
    await interp.computer.aterminate()


async def test_async_reading_on_approves(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter()
    marker = tmp_path / "ran"
    llm.queue(touching("shell", marker), "Made.")
    chunks = [c async for c in interp.achat("make the file")]
    assert marker.exists()
    assert any(c["type"] == "confirmation" for c in chunks)
    await interp.computer.aterminate()


def test_an_iterator_dropped_on_the_loop_thread_closes_without_deadlock() -> None:
    """Garbage collection can finalise the sync iterator on the loop's own thread: it must not wait on itself."""
    import threading

    from oi_core.loop_thread import LoopThread

    closed = threading.Event()

    async def producer():
        try:
            yield "confirmation"
            yield "ran"
        finally:
            closed.set()

    runner = LoopThread("test-loop")
    iterator = runner.iterate(producer())
    assert next(iterator) == "confirmation"
    done = threading.Event()
    runner.loop.call_soon_threadsafe(lambda: (iterator.close(), done.set()))
    assert done.wait(5), "closing on the loop thread deadlocked"
    assert closed.wait(5), "the async generator was never closed"
    runner.stop()
