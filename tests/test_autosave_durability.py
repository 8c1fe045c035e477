"""Autosave: each message is written at once (a killed process loses nothing completed); the fsync that
guards against an OS crash comes once per turn, before chat() returns, and within a second during long turns."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oi_core import conversations
from oi_core.conversations import ConversationStore
from tests.llm_server import Reply

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fsyncs(monkeypatch):
    """(monotonic time, file name) of every fsync of a conversation file, through the real fsync."""
    seen: list[tuple[float, str]] = []
    real = conversations._sync_file

    def counted(fd: int) -> None:
        real(fd)
        seen.append((time.monotonic(), os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))

    monkeypatch.setattr(conversations, "_sync_file", counted)
    return seen


def saving_interpreter(make_interpreter, data_dir, monkeypatch):
    monkeypatch.chdir(data_dir.parent)  # runs are checkpointed in the working directory: a small one
    interp = make_interpreter(auto_run=True)
    interp.conversation_history = True
    interp.conversation_history_path = str(data_dir)
    return interp


def test_one_fsync_per_turn_and_chat_returns_after_it(make_interpreter, llm, data_dir, fsyncs, monkeypatch):
    monkeypatch.setattr(conversations, "SYNC_DELAY", 60.0)  # a slow turn on a loaded machine: still one fsync
    interp = saving_interpreter(make_interpreter, data_dir, monkeypatch)
    name = f"{interp.conversation_id}.json"
    for turn in range(3):
        llm.queue(f"Step {turn}.\n```shell\necho turn {turn}\n```", f"Turn {turn} done.")
        before = len(fsyncs)
        interp.chat(f"turn {turn}", display=False)
        at_return = len(fsyncs)
        assert [f for _, f in fsyncs[before:]] == [name], "five messages a turn, one fsync"
        saved = ConversationStore(data_dir).load(interp.conversation_id)
        assert saved[-1]["content"] == f"Turn {turn} done." and len(saved) == len(interp.messages)
        time.sleep(1.3)  # a turn-end fsync still on its way after chat() returned would show by now
        assert len(fsyncs) == at_return


def test_a_long_turn_is_fsynced_within_about_a_second_of_a_write(make_interpreter, llm, data_dir, fsyncs,
                                                                 monkeypatch):
    interp = saving_interpreter(make_interpreter, data_dir, monkeypatch)
    llm.queue("```shell\necho started\nsleep 4\necho finished\n```", "All done.")
    started = finished = None
    for chunk in interp.chat("go", display=False, stream=True):
        if chunk.get("format") == "output" and "started" in str(chunk.get("content")):
            started = time.monotonic()
        if chunk.get("type") == "console" and chunk.get("end"):
            finished = time.monotonic()
    assert started is not None and finished is not None
    during = [t for t, _ in fsyncs if started <= t <= finished]
    assert during, "nothing written during the 4 s run was fsync'ed until the turn ended"
    assert during[0] - started < 2.5  # the code message was written before the run: fsync'ed about 1 s later


async def test_the_async_api_fsyncs_when_the_turn_ends(make_interpreter, llm, data_dir, fsyncs, monkeypatch):
    monkeypatch.setattr(conversations, "SYNC_DELAY", 60.0)  # only the end of the turn can cause the fsync
    interp = saving_interpreter(make_interpreter, data_dir, monkeypatch)
    llm.queue("Hello.")
    async for _ in interp.achat("hi"):
        pass
    ended = time.monotonic()
    while not fsyncs and time.monotonic() - ended < 15:
        await asyncio.sleep(0.02)
    assert fsyncs, "the turn ended but its messages were not fsync'ed"
    await interp.flush_autosave()
    assert ConversationStore(data_dir).load(interp.conversation_id)[-1]["content"] == "Hello."


KILLED_MID_TURN = """
import sys
from oi_core import OpenInterpreter
from oi_core import conversations
conversations.SYNC_DELAY = 600.0  # no fsync before the kill: the writes alone must be enough
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = sys.argv[1]
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.llm.context_window = 32000
interp.auto_run = True
interp.conversation_history = True
interp.conversation_history_path = sys.argv[2]
interp.conversation_id = "killed"
interp.chat("start the long job", display=False)
"""


@pytest.mark.timeout(300)
def test_a_killed_process_keeps_every_completed_message(llm, tmp_path):
    llm.queue("Starting it.\n```shell\necho started\nsleep 120\n```", "never sent")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MID_TURN, llm.url, str(tmp_path)], cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = ConversationStore(tmp_path)

    def saved() -> list[dict]:
        try:
            return store.load("killed")
        except Exception:
            return []

    try:
        deadline = time.monotonic() + 120
        while len(saved()) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [(m["role"], m["type"]) for m in saved()] == [
        ("user", "message"), ("assistant", "message"), ("assistant", "code")], proc.stderr.read().decode()[-2000:]
