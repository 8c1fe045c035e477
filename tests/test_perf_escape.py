"""Esc during a reply: the key reaches the app when its delay is over, and "ready" is drawn before the toast."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import statistics
import threading
import time
import tty

from textual import constants, events
from textual.app import App

from oi_tui.app import OiApp
from oi_tui.escape_driver import PromptEscapeDriver
from oi_tui.widgets.status_line import StatusLine
from tests.llm_server import Reply
from tests.tui_support import chat, send, wait_for


class KeysRecorded(PromptEscapeDriver):
    """The real input thread and parser; the keys they hand on are recorded instead of posted to an app."""

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.keys: list[tuple[float, str]] = []

    def process_message(self, message) -> None:
        if isinstance(message, events.Key):
            self.keys.append((time.perf_counter(), message.key))


async def test_a_lone_esc_is_handed_on_when_its_delay_is_over(monkeypatch) -> None:
    """Textual's input thread polls every 0.1 s and only then lets a pending Esc go (>= 0.1 s after the key)."""
    monkeypatch.setattr(constants, "ESCAPE_DELAY", 0.02)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}  # the driver sets them
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        driver = KeysRecorded(App())
        driver.fileno = slave
        thread = threading.Thread(target=driver.run_input_thread, daemon=True)
        thread.start()
        delays = []
        for _ in range(5):
            seen = len(driver.keys)
            await asyncio.sleep(0.15)
            sent = time.perf_counter()
            os.write(master, b"\x1b")
            deadline = sent + 5
            while len(driver.keys) == seen and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            assert driver.keys[seen:seen + 1] and driver.keys[seen][1] == "escape"
            delays.append(driver.keys[seen][0] - sent)
        os.write(master, b"ab")
        await asyncio.sleep(0.05)
        assert [key for _, key in driver.keys[-2:]] == ["a", "b"], "ordinary keys still arrive"
        driver.exit_event.set()
        thread.join(2)
        assert not thread.is_alive(), "the input thread ends when the driver stops"
    finally:
        os.close(master)
        os.close(slave)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert statistics.median(delays) < 0.07, delays  # 0.02 s delay here; Textual's own thread: >= 0.1 s


def test_the_app_uses_that_driver_in_a_terminal() -> None:
    assert OiApp.get_driver_class(OiApp.__new__(OiApp)) is PromptEscapeDriver


async def test_stopping_a_reply_says_ready_and_then_stopped(make_interpreter, llm) -> None:
    """The "Stopped." toast comes after the frame that says "ready" (mounting it delayed that frame)."""
    llm.queue(Reply(text="word " * 20_000, chunk_size=4, chunk_delay=0.002))
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await send(pilot, "long reply")
        await wait_for(pilot, lambda: chat(app).busy and chat(app)._reply is not None, timeout=60)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.query_one(StatusLine).state == "idle", timeout=20)
        await wait_for(pilot, lambda: any(n.message == "Stopped." for n in app._notifications), timeout=10)


async def test_a_reply_that_begins_after_esc_is_not_drawn(make_interpreter, no_kernel_warm_up) -> None:
    """Esc while the model is still thinking: there is no reply to stop yet, and the chunks the core sent before
    it took the stop in were drawn after "ready" (the benchmark saw rows change after it). The next turn draws."""
    from oi_core.events import ChunkEmitted, StatusChanged, TurnFinished
    from oi_tui.widgets.chat_messages import AssistantMessage

    interp = make_interpreter()
    app = OiApp(interp)

    def reply_chunks(text: str) -> None:
        interp.bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "start": True}))
        interp.bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "content": text}))
        interp.bus.publish(ChunkEmitted({"role": "assistant", "type": "message", "end": True}))

    async with app.run_test(size=(120, 35)) as pilot:
        interp.bus.publish(StatusChanged("thinking", "openai/test-model"))
        await wait_for(pilot, lambda: chat(app).busy)
        await pilot.press("escape")
        reply_chunks("LATE-WORDS")
        interp.bus.publish(StatusChanged("idle"))
        interp.bus.publish(TurnFinished("stopped"))
        await wait_for(pilot, lambda: not chat(app).busy)
        await pilot.pause(0.3)
        assert not chat(app).query(AssistantMessage), "a reply that began after Esc was drawn"
        interp.bus.publish(StatusChanged("thinking", "openai/test-model"))
        reply_chunks("NEXT-WORDS")
        interp.bus.publish(StatusChanged("idle"))
        interp.bus.publish(TurnFinished("done"))
        await wait_for(pilot, lambda: any("NEXT-WORDS" in reply.text for reply in chat(app).query(AssistantMessage)))
