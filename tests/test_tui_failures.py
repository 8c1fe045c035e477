"""Failures in the TUI: an inline marker that lasts, a clean retry, and server text shown as text."""

from __future__ import annotations

import pytest

from oi_tui.app import OiApp
from oi_tui.widgets.prompt_input import PromptInput
from oi_tui.widgets.chat_messages import AssistantMessage, UserMessage
from oi_tui.widgets.transcript import FailureMarker
from tests.llm_server import Reply
from tests.tui_support import chat, send, wait_for

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 35)


async def test_failed_turn_is_marked_inline_and_retrying_sends_the_message_once(make_interpreter, llm):
    interp = make_interpreter()
    interp.llm.max_retries = 0
    llm.queue(Reply(status=500, error_message="the backend is down"))
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "do it")
        await wait_for(pilot, lambda: app.query(FailureMarker) and chat(app).status == "idle")
        marker = app.query_one(FailureMarker)
        assert "server error (500: the backend is down)" in marker.text
        assert "back in the prompt" in marker.text
        assert app.query_one(PromptInput).text == "do it", "the failed message is offered again"
        assert app.query_one(UserMessage).has_class("-withdrawn")
        assert interp.messages == []
        llm.queue("Done.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.query(AssistantMessage) and chat(app).status == "idle")
        await wait_for(pilot, lambda: app.query_one(AssistantMessage).text == "Done.")
        sent = [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"]
        assert sent == ["do it"]
        assert len(app.query(FailureMarker)) == 1, "the marker stays in the transcript"


async def test_server_text_with_markup_is_shown_as_text_and_never_crashes(make_interpreter, llm):
    interp = make_interpreter()
    interp.llm.max_retries = 0
    body = "bad field [x] in [/] see [link=https://example.com]docs[/link] [bold]now"
    llm.queue(Reply(status=400, error_message=body))
    app = OiApp(interp)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app._notifications) and chat(app).status == "idle")
        await pilot.pause(0.3)  # let the toast render
        assert app.is_running
        assert any(body in n.message for n in app._notifications), "the toast shows the provider's words"
        toast = "".join(str(toast.render()) for toast in app.screen.query("Toast"))
        assert "[x]" in toast and "[/]" in toast, toast
        assert body in app.query_one(FailureMarker).text
