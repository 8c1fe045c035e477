"""The sync API's private loop: a slow reader holds the producer back; stopping the loop releases every waiter."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import pytest

from oi_core.loop_thread import AHEAD, LoopThread


@pytest.fixture
def loop_thread():
    lt = LoopThread("oi-test-loop")
    yield lt
    lt.stop()


def test_a_slow_reader_holds_the_producer_back(loop_thread):
    produced = []

    async def numbers():
        for i in range(10_000):
            produced.append(i)
            yield i

    items = loop_thread.iterate(numbers())
    assert next(items) == 0
    time.sleep(0.5)  # the reader is busy: the producer may run ahead only so far
    assert AHEAD <= len(produced) <= AHEAD + 2
    assert list(items) == list(range(1, 10_000))  # then everything, in order


def test_the_held_item_still_pauses_the_producer(loop_thread):
    produced = []

    async def chunks():
        for kind in ["a"] * 3 + ["confirmation"] + ["b"] * 200:
            produced.append(kind)
            yield kind

    items = loop_thread.iterate(chunks(), hold=lambda item: item == "confirmation")
    assert [next(items) for _ in range(4)][-1] == "confirmation"
    time.sleep(0.3)
    assert produced == ["a"] * 3 + ["confirmation"]
    assert next(items) == "b"
    time.sleep(0.3)
    assert len(produced) <= 4 + AHEAD + 2
    items.close()


def test_stop_cancels_a_pending_task_and_releases_its_waiter(loop_thread):
    cleaned = threading.Event()

    async def forever():
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.set()

    outcome = concurrent.futures.Future()

    def wait_in_run():
        try:
            loop_thread.run(forever())
        except BaseException as exc:  # noqa: BLE001 - what the waiter saw is the point
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    threading.Thread(target=wait_in_run, daemon=True).start()
    time.sleep(0.3)
    loop_thread.stop()
    assert isinstance(outcome.result(timeout=5), concurrent.futures.CancelledError)
    assert cleaned.wait(1), "the task was not cancelled, so its cleanup never ran"


def test_stop_ends_a_stream_being_read_in_another_thread(loop_thread):
    closed = threading.Event()

    async def slow():
        try:
            yield "first"
            await asyncio.sleep(3600)
            yield "never"
        finally:
            closed.set()

    outcome = concurrent.futures.Future()

    def read():
        got = []
        try:
            for item in loop_thread.iterate(slow()):
                got.append(item)
        except BaseException as exc:  # noqa: BLE001
            outcome.set_result((got, exc))
        else:
            outcome.set_result((got, None))

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.3)
    loop_thread.stop()
    got, exc = outcome.result(timeout=5)
    assert got == ["first"] and isinstance(exc, concurrent.futures.CancelledError)
    assert closed.wait(1)


def test_the_loop_is_made_again_after_stop(loop_thread):
    async def two():
        return 2

    assert loop_thread.run(two()) == 2
    loop_thread.stop()
    assert loop_thread.run(two()) == 2
