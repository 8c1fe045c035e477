"""No failure is silent: bus handlers, magic commands (busy, stoppable), workers and the profile editor."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from oi_core.bus import EventBus
from oi_core.events import ErrorRaised, InfoShown, StatusChanged, UserMessageSent
from oi_core.session import Session


async def test_an_async_handler_failure_is_told_and_logged(caplog) -> None:
    bus = EventBus()
    errors: list[ErrorRaised] = []
    bus.on(ErrorRaised, errors.append)

    async def broken(event):
        raise RuntimeError("the handler broke")

    bus.on(UserMessageSent, broken)
    with caplog.at_level(logging.ERROR, logger="oi_core.bus"):
        bus.publish(UserMessageSent("%save_message ."))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if errors:
                break
    assert errors and errors[0].kind == "internal"
    assert "the handler broke" in errors[0].message and "%save_message ." in errors[0].message
    assert any("the handler broke" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_a_sync_handler_failure_never_reaches_the_publisher() -> None:
    bus = EventBus()
    errors: list[ErrorRaised] = []
    seen: list[InfoShown] = []
    bus.on(ErrorRaised, errors.append)
    bus.on(InfoShown, lambda event: 1 / 0)
    bus.on(InfoShown, seen.append)
    bus.publish(InfoShown("hello"))  # must not raise
    assert seen and errors and "ZeroDivisionError" in errors[0].message


async def test_save_message_to_a_folder_is_saved_and_said(make_interpreter, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    interp = make_interpreter()
    interp.messages = [{"role": "user", "type": "message", "content": "hi"}]
    session = Session(interp)
    infos, errors = [], []
    interp.bus.on(InfoShown, infos.append)
    interp.bus.on(ErrorRaised, errors.append)
    session.send("%save_message .")
    for _ in range(300):
        await asyncio.sleep(0.01)
        if infos or errors:
            break
    assert not errors, errors
    assert (tmp_path / "messages.json").exists()
    assert "Saved 1 messages to" in infos[0].text
    await session.close()


async def test_a_magic_command_is_busy_and_stoppable(make_interpreter) -> None:
    interp = make_interpreter()
    session = Session(interp)
    statuses, errors, infos = [], [], []
    interp.bus.on(StatusChanged, statuses.append)
    interp.bus.on(ErrorRaised, errors.append)
    interp.bus.on(InfoShown, infos.append)
    session.send("%% echo started; sleep 30; echo never")
    for _ in range(1500):
        await asyncio.sleep(0.01)
        if session.busy and interp.status == "running":
            break
    await asyncio.sleep(0.5)
    assert session.busy, "a running magic command is the session's turn"
    session.send("hello while busy")
    await asyncio.sleep(0.05)
    assert errors and errors[-1].kind == "busy", "a message sent meanwhile is not run alongside it"
    started = time.monotonic()
    await session.stop()
    assert time.monotonic() - started < 5
    assert not session.busy and interp.status == "idle"
    assert not any("never" in i.text for i in infos)
    await session.close()
