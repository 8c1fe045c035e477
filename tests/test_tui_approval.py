"""Approval you can trust, in the TUI: Pilot tests against the scripted server and real shells.

Nothing here is decided by ordinary typing: tests type whole sentences full of r/e/s/y/n (and Enter)
while code waits, and check real side effects (a file the code would create) and the events published.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Footer

from oi_core.events import CodeApproved, CodeSkipped, ErrorRaised, Event
from oi_tui.app import OiApp
from oi_tui.screens.confirm import ConfirmScreen
from oi_tui.widgets.chat_messages import AssistantMessage, UserMessage
from oi_tui.widgets.code_block import CodeBlock
from oi_tui.widgets.queued_messages import QueuedMessage
from tests.llm_server import Reply
from tests.tui_support import chat, say_yes, send, wait_for, wait_for_approval

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 35)

SENTENCES = [
    "thanks, and after that please remove it",
    "enter",
    " really, yes: run it, edit it, skip it, or say no? sure. s e r y n R E S Y N",
]


def touch_block(marker: Path) -> str:
    return f"Creating it:\n\n```shell\ntouch {marker}\n```\n"


def decisions(interp) -> list[Event]:
    seen: list[Event] = []
    interp.bus.on(CodeApproved, seen.append)
    interp.bus.on(CodeSkipped, seen.append)
    return seen


async def type_sentences(pilot) -> None:
    for part in SENTENCES:
        if part == "enter":
            await pilot.press("enter")
        else:
            await pilot.press(*part)
    await pilot.pause(0.3)


async def send_while_streaming(pilot, text: str) -> None:
    """Put text in the prompt and press Enter (pilot.press waits for an idle app, too slow mid-stream)."""
    chat(pilot.app).prompt.insert(text)
    await pilot.press("enter")


def footer_keys(app: OiApp) -> dict[str, str]:
    """What the footer shows now: key -> description."""
    return {key: active.binding.description for key, active in app.screen.active_bindings.items()
            if active.binding.show}


def request_texts(request: dict) -> str:
    return json.dumps(request["messages"])


async def test_typing_sentences_while_code_waits_never_decides(make_interpreter, llm, tmp_path):
    marker = tmp_path / "ran-marker"
    llm.queue(touch_block(marker), "Created it.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "make the marker")
        pending = await wait_for_approval(pilot)
        prompt = chat(app).prompt
        assert prompt.has_focus
        await type_sentences(pilot)
        await pilot.pause(0.5)
        assert not marker.exists() and seen == []
        assert chat(app).pending is pending and not pending.editing
        assert chat(app).editor.read_only and chat(app).editor.text == f"touch {marker}"
        # the sentence before Enter is queued visibly; the rest is still in the prompt
        assert chat(app).queued.texts == [SENTENCES[0]]
        assert app.query(QueuedMessage) and chat(app).queued.display
        assert prompt.text == SENTENCES[2]
        assert [m.text for m in app.query(UserMessage)] == ["make the marker"]
        # the deliberate key runs it
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: marker.exists())
        assert [type(e).__name__ for e in seen] == ["CodeApproved"]
        # and the queued message is sent once the turn is over
        await wait_for(pilot, lambda: len(llm.requests) == 3 and chat(app).status == "idle")
        assert llm.requests[2]["messages"][-1]["content"] == SENTENCES[0]
        assert [m.text for m in app.query(UserMessage)] == ["make the marker", SENTENCES[0]]
        assert chat(app).queued.texts == [] and prompt.text == SENTENCES[2]


async def test_run_key_pressed_while_code_streams_never_approves(make_interpreter, llm, tmp_path):
    """ctrl+r hammered while the block streams (keys posted as the terminal driver posts them)."""
    marker = tmp_path / "early-marker"
    code = f"```shell\ntouch {marker}\n# " + "padding " * 50 + "\n```\n"
    llm.queue(Reply(text=code, chunk_size=3, chunk_delay=0.03))
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: chat(app)._block is not None)
        presses, late = 0, []
        while chat(app).pending is None and presses < 2000:
            app.post_message(events.Key("ctrl+r", None))
            late = (late + [events.Key("ctrl+r", None)])[-5:]  # pressed now, handled only after the card shows
            presses += 1
            await asyncio.sleep(0.01)
        for key in late:
            app.post_message(key)
        assert presses > 20, "the keys were pressed while the code streamed"
        await pilot.pause(1.0)
        assert chat(app).pending is not None, "the block still waits"
        assert not marker.exists() and seen == []
        await pilot.press("ctrl+r")  # a deliberate press once it has been shown runs it
        await wait_for(pilot, lambda: marker.exists())


async def test_footer_and_card_show_the_keys_that_apply_now(make_interpreter, llm, tmp_path):
    llm.queue(touch_block(tmp_path / "m"))
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        assert "ctrl+r" not in footer_keys(app)
        await send(pilot, "go")
        await wait_for_approval(pilot)
        keys = footer_keys(app)
        assert keys["ctrl+r"] == "Run" and keys["ctrl+g"] == "Edit" and keys["escape"] == "Don't run"
        assert keys["tab"] == "Approval card"
        card = chat(app).approval_card
        labels = [str(b.label) for b in card.query("Button") if b.display]
        assert "Run ctrl+r" in labels and "Edit ctrl+g" in labels and "Don't run esc" in labels
        assert app.query_one(Footer).display


async def test_edit_mode_shows_edit_keys_and_letters_type_into_the_editor(make_interpreter, llm, tmp_path):
    marker = tmp_path / "edited-marker"
    llm.queue(touch_block(tmp_path / "model-marker"), "Done.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        pending = await wait_for_approval(pilot)
        await pilot.press("ctrl+g")
        screen, editor, card = chat(app), chat(app).editor, chat(app).approval_card
        assert pending.editing and editor.has_focus and not editor.read_only
        keys = footer_keys(app)
        assert keys["ctrl+r"] == "Run edited" and keys["escape"] == "Cancel edit"
        assert "ctrl+g" not in keys and "tab" not in keys
        labels = [str(b.label) for b in card.query("Button") if b.display and b.parent.display]
        assert labels == ["Run edited ctrl+r", "Cancel edit esc"]
        assert "Editing" in str(card.query_one("#card-question").content)
        # r / e / s now type into the editor; nothing is decided
        await pilot.press("end", *" res")
        assert editor.text.endswith(" res") and seen == []
        # esc cancels the edit: the model's code is back, still pending, focus back in the prompt
        await pilot.press("escape")
        assert editor.text == pending.shown and not pending.editing and editor.read_only
        assert screen.prompt.has_focus and seen == []
        # edit again and run the edited code
        await pilot.press("ctrl+g")
        await pilot.press("ctrl+a", "ctrl+k", *f"touch {marker}")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: marker.exists())
        assert not (tmp_path / "model-marker").exists()
        assert isinstance(seen[0], CodeApproved) and seen[0].code == f"touch {marker}"
        block = app.query_one(CodeBlock)
        assert block.edited and "edited by you" in str(block.query_one("#code-header").content)
        assert screen.prompt.has_focus


async def test_escape_records_not_run_for_the_model(make_interpreter, llm, tmp_path):
    marker = tmp_path / "esc-marker"
    llm.queue(touch_block(marker), "I see it was not run.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "make it")
        await wait_for_approval(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: chat(app).status == "idle" and chat(app).pending is None)
        assert [(type(e).__name__, e.how) for e in seen] == [("CodeSkipped", "escape")]
        block = app.query_one(CodeBlock)
        assert block.state == "not_run" and "not run" in str(block.query_one("#code-header").content)
        await send(pilot, "what happened?")
        await wait_for(pilot, lambda: len(llm.requests) == 2 and chat(app).status == "idle")
        assert "not run" in request_texts(llm.requests[1]).lower()
        assert not marker.exists()


async def test_skip_with_a_reason_typed_on_the_card(make_interpreter, llm, tmp_path):
    marker = tmp_path / "skip-marker"
    llm.queue(touch_block(marker), "Understood, I will use a temp folder.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "make it")
        await wait_for_approval(pilot)
        await pilot.press("tab")
        card = chat(app).approval_card
        assert card.has_focus
        await pilot.press("s")
        reason = card.query_one("#card-reason")
        assert reason.has_focus and card.box == "skip"
        await pilot.press(*"never mind", "escape")  # Esc in the box goes back to the card, nothing decided
        assert card.box == "" and card.has_focus and chat(app).pending is not None and seen == []
        await pilot.press("s")
        assert reason.has_focus and reason.value == ""
        await pilot.press(*"use a temp folder instead", "enter")
        await wait_for(pilot, lambda: seen)
        assert (seen[0].how, seen[0].reason) == ("skip", "use a temp folder instead")
        await wait_for(pilot, lambda: len(llm.requests) == 2)
        assert "use a temp folder instead" in request_texts(llm.requests[1])
        assert app.query_one(CodeBlock).state == "skipped" and not marker.exists()
        await wait_for(pilot, lambda: chat(app).status == "idle")
        assert chat(app).prompt.has_focus


async def test_card_letters_work_only_once_the_card_is_focused(make_interpreter, llm, tmp_path):
    marker = tmp_path / "card-marker"
    llm.queue(touch_block(marker), "Done.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_for_approval(pilot)
        await pilot.press("r")
        await pilot.pause(0.3)
        assert seen == [] and chat(app).prompt.text == "r"
        await pilot.press("tab", "r")
        await wait_for(pilot, lambda: marker.exists())
        assert isinstance(seen[0], CodeApproved)
        await wait_for(pilot, lambda: chat(app).status == "idle")
        assert chat(app).prompt.has_focus and chat(app).prompt.text == "r"


@pytest.mark.parametrize("button, ran", [("#card-run", True), ("#card-dismiss", False)])
async def test_clicking_the_card_buttons(make_interpreter, llm, tmp_path, button, ran):
    marker = tmp_path / "click-marker"
    llm.queue(touch_block(marker), "Done.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_for_approval(pilot)
        await pilot.click(button)
        await wait_for(pilot, lambda: seen and chat(app).status == "idle")
        assert marker.exists() is ran
        assert type(seen[0]) is (CodeApproved if ran else CodeSkipped)


async def test_message_sent_while_busy_is_queued_then_sent_or_cancelled(make_interpreter, llm):
    llm.queue(Reply(text="slow " * 100, chunk_size=2, chunk_delay=0.04), "Second answer.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first")
        await wait_for(pilot, lambda: app.query(AssistantMessage))  # the slow reply is streaming
        await send_while_streaming(pilot, "second, please")
        await send_while_streaming(pilot, "third, never mind")
        queued = chat(app).queued
        assert queued.texts == ["second, please", "third, never mind"] and queued.display
        assert [m.text for m in app.query(UserMessage)] == ["first"]
        assert chat(app).prompt.text == ""
        # cancel the third with its button; ↑ history still has it
        await pilot.click(app.query(QueuedMessage).last().query_one(".queued-cancel"))
        assert queued.texts == ["second, please"]
        await wait_for(pilot, lambda: len(llm.requests) == 2 and chat(app).status == "idle", timeout=30)
        assert llm.requests[1]["messages"][-1]["content"] == "second, please"
        assert [m.text for m in app.query(UserMessage)] == ["first", "second, please"]
        await pilot.pause(0.5)
        assert len(llm.requests) == 2 and queued.texts == [] and not queued.display
        await pilot.press("up")
        assert chat(app).prompt.text == "third, never mind"


async def test_up_in_an_empty_prompt_takes_a_queued_message_back(make_interpreter, llm):
    llm.queue(Reply(text="slow " * 100, chunk_size=2, chunk_delay=0.04))
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first")
        await wait_for(pilot, lambda: app.query(AssistantMessage))  # the slow reply is streaming
        await send_while_streaming(pilot, "fix this typo")
        assert chat(app).queued.texts == ["fix this typo"]
        await pilot.press("up")
        assert chat(app).prompt.text == "fix this typo" and chat(app).queued.texts == []
        await wait_for(pilot, lambda: chat(app).status == "idle", timeout=30)
        await pilot.pause(0.3)
        assert len(llm.requests) == 1


async def test_incomplete_code_needs_an_edit_or_a_confirmation(make_interpreter, llm, tmp_path):
    marker = tmp_path / "cut-marker"
    llm.queue(Reply(text=f"```shell\ntouch {marker} && echo par", finish_reason="length"), "Done.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        pending = await wait_for_approval(pilot)
        assert pending.incomplete
        card = chat(app).approval_card
        assert "incomplete" in str(card.query_one("#card-notes").render()).lower()
        assert "cut off" in str(app.query_one(CodeBlock).query_one("#code-header").content)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "incomplete" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        assert seen == [] and chat(app).pending is pending and not marker.exists()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await say_yes(pilot)
        await wait_for(pilot, lambda: marker.exists())
        assert seen[0].confirmed_incomplete is True


async def test_reply_escape_sequences_and_markup_in_errors_are_harmless(make_interpreter, llm):
    reply = "Title \x1b]0;pwned\x07 and clipboard \x1b]52;c;cHduZWQ=\x07 done [/] [bold]x"
    llm.queue(Reply(text=reply, chunk_size=3))
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        shown = app.query_one(AssistantMessage)
        await wait_for(pilot, lambda: not shown.streaming)
        assert "\x1b" not in shown.text and "\x07" not in shown.text and "pwned" not in shown.text
        assert "done [/] [bold]x" in shown.text
        # an error text from a server, as the core passes it on
        interp.bus.publish(ErrorRaised("llm", "bad [/] gateway \x1b]0;x\x07 [bold]"))
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        await pilot.pause(0.3)
        note = next(n for n in app._notifications if n.severity == "error")
        assert "[/]" in note.message and "\x1b" not in note.message and not note.markup
        assert app.is_running


async def test_stop_while_pending_closes_the_card(make_interpreter, llm, tmp_path):
    marker = tmp_path / "stop-marker"
    llm.queue(touch_block(marker))
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_for_approval(pilot)
        await app.run_action("stop")  # Stop from the palette (Esc on a pending block means "don't run")
        await wait_for(pilot, lambda: chat(app).pending is None and chat(app).status == "idle")
        assert chat(app).approval_card.has_class("-hidden") and not marker.exists()
        assert app.query_one(CodeBlock).state in ("stopped", "not_run")


async def test_control_characters_in_code_are_shown_and_run_as_written(make_interpreter, llm, tmp_path):
    """The editor shows ESC/BEL as visible marks; what runs is the model's bytes, exactly."""
    target = tmp_path / "written"
    payload = "x\x1b]0;t\x07y"
    llm.queue(f"```shell\nprintf '%s' '{payload}' > {target}\n```\n", "Done.")
    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "write it")
        pending = await wait_for_approval(pilot)
        editor_text = chat(app).editor.text
        assert "\x1b" not in editor_text and "\x07" not in editor_text and "␛]0;t␇" in editor_text
        assert "control characters" in str(chat(app).approval_card.query_one("#card-notes").render())
        assert "\x1b" not in str(app.query_one(CodeBlock).query_one(".code-body").render())
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: target.exists() and chat(app).status == "idle")
        assert seen[0].code == pending.code and payload in seen[0].code
        assert target.read_text() == payload
        assert not app.query_one(CodeBlock).edited


async def test_notices_are_sanitised(make_interpreter):
    from oi_core.events import InfoShown
    from oi_tui.widgets.chat_messages import NoticeMessage

    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        interp.bus.publish(InfoShown("saved \x1b]0;pwned\x07 [/] ok", title="Magic \x1b[31m"))
        await wait_for(pilot, lambda: app.query(NoticeMessage))
        shown = str(app.query_one(NoticeMessage).render())
        assert "\x1b" not in shown and "pwned" not in shown and "[/] ok" in shown


async def test_run_while_the_scan_runs_asks_first_display_only(make_interpreter):
    """The card's "skip waiting" path (events built here; the core's scan timing is tested in test_tui_safety)."""
    from oi_core.events import ApprovalRequested
    from oi_core.safety.types import ScanResult

    interp = make_interpreter()
    seen = decisions(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        interp.bus.publish(ApprovalRequested("approval-s", "shell", "echo hi", scan=ScanResult("scanning")))
        pending = await wait_for_approval(pilot)
        assert pending.scanning and "scanning" in str(chat(app).approval_card.query_one("#card-notes").render())
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "scan has not finished" in app.screen.question
        await say_yes(pilot)
        await wait_for(pilot, lambda: seen)
        assert isinstance(seen[0], CodeApproved) and seen[0].code == "echo hi"


async def test_a_block_run_by_an_allow_rule_says_so(make_interpreter, llm):
    llm.queue("```shell\necho allowed-by-rule\n```\n", "Done.")
    interp = make_interpreter()
    interp.set_setting("allow_rules", [{"language": "shell", "kind": "command-prefix", "pattern": "echo"}])
    app = OiApp(interp)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "say it")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(llm.requests) == 2)
        block = app.query_one(CodeBlock)
        header = str(block.query_one("#code-header").content)
        assert "allowed by rule" in header and "echo" in header and block.state == "done"
        assert any(n.title == "Allow rule" for n in app._notifications)


async def test_a_refused_approval_brings_the_card_back(make_interpreter, llm, tmp_path):
    """If the core refuses an approval (unconfirmed cut-off code), the block is offered again, not lost."""
    marker = tmp_path / "refused-marker"
    llm.queue(Reply(text=f"```shell\ntouch {marker} && echo par", finish_reason="length"), "Done.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "go")
        pending = await wait_for_approval(pilot)
        chat(app)._approve(pending, confirmed=False)  # as a client that skipped the confirmation would
        await wait_for(pilot, lambda: any(n.title == "Approval" for n in app._notifications))
        await wait_for(pilot, lambda: chat(app).pending is pending)
        assert not chat(app).approval_card.has_class("-hidden") and not marker.exists()
        await pilot.pause(0.4)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await say_yes(pilot)
        await wait_for(pilot, lambda: marker.exists())
