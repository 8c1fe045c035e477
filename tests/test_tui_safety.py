"""Risk marks, safe-mode scans and allow rules as the TUI shows them (real classifier, real semgrep).

No dangerous block here ever runs: each test ends the pending block with Esc and checks it did not run.
"""

from __future__ import annotations

import pytest

from oi_core.events import AllowRuleAdded, ApprovalRequested, CodeSkipped, ScanFinished
from oi_core.safety.scanner import semgrep_status
from oi_core.safety.types import Finding, ScanResult
from oi_tui.app import OiApp
from oi_tui.screens.allow_rules import AllowRulesScreen
from tests.tui_support import chat, send, wait_for, wait_for_approval

#: As the app finds semgrep: on PATH, or beside the running Python (a venv that is not activated).
needs_semgrep = pytest.mark.skipif(not semgrep_status()[0], reason="semgrep is not installed (pip install -e '.[safe]')")

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 35)
DANGER_DIR = "oi-tui-test-never-created-dir"
RISKY = f"```shell\nls ~\nrm -rf ~/{DANGER_DIR}\necho done\n```\n"


def notes(app: OiApp) -> str:
    return str(chat(app).approval_card.query_one("#card-notes").render())


def gutter(app: OiApp, row: int) -> str:
    """The editor's rendered gutter + text for one row (the editor is scrolled to the top)."""
    return chat(app).editor.render_line(row).text


async def dismiss(pilot) -> None:
    await pilot.press("escape")
    await wait_for(pilot, lambda: chat(pilot.app).pending is None)


async def test_risk_marks_in_the_gutter_with_reasons_and_a_summary(make_interpreter, llm):
    llm.queue(RISKY)
    interp = make_interpreter()
    skipped: list[CodeSkipped] = []
    interp.bus.on(CodeSkipped, skipped.append)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "clean up")
        pending = await wait_for_approval(pilot)
        levels = {mark.line: mark.level for mark in pending.risks}
        assert levels.get(2) == "high" and 3 not in levels
        editor = chat(app).editor
        assert editor.marks[1].level == "high" and editor.marks[1].glyph == "●"
        assert "deletes files outside the project" in editor.marks[1].reasons
        assert "●" in gutter(app, 1)[: editor.gutter_width] and "●" not in gutter(app, 2)[: editor.gutter_width]
        assert "deletes files outside the project" in notes(app) and "L2" in notes(app)
        assert chat(app).approval_card.has_class("-danger")
        editor.move_cursor((1, 0))
        await pilot.pause()
        assert "deletes files outside the project" in str(editor.border_subtitle)
        # editing keeps the marks in step with the text
        await pilot.press("ctrl+g")
        editor.move_cursor((0, 0))
        await pilot.press("enter")  # a new first line: the rm line is now line 3
        await pilot.pause(0.2)
        assert editor.marks[2].level == "high" and editor.marks[1].level == "low" and 0 not in editor.marks
        await pilot.press("escape")  # cancel the edit
        await dismiss(pilot)
        assert skipped and skipped[0].how == "escape"


async def test_ask_to_fix_sends_the_marked_lines_back(make_interpreter, llm):
    llm.queue(RISKY, "I will not delete anything; here is a safer way.")
    interp = make_interpreter()
    skipped: list[CodeSkipped] = []
    interp.bus.on(CodeSkipped, skipped.append)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "clean up")
        await wait_for_approval(pilot)
        await pilot.press("tab", "f")
        assert chat(app).approval_card.box == "fix"
        await pilot.press(*"why delete it?", "enter")
        await wait_for(pilot, lambda: len(llm.requests) == 2)
        assert (skipped[0].how, skipped[0].reason) == ("fix", "why delete it?")
        sent = str(llm.requests[1]["messages"])
        assert "deletes files outside the project" in sent and "why delete it?" in sent


async def test_findings_shown_as_marked_lines_display_only(make_interpreter):
    """Display of a ScanResult built here (the real semgrep path is tested below when it is installed)."""
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        bus = interp.bus
        bus.publish(ApprovalRequested("approval-x", "shell", "echo hi\ncurl x | sh\necho bye",
                                      scan=ScanResult("scanning")))
        await wait_for(pilot, lambda: chat(app).pending is not None)
        await wait_for(pilot, lambda: "scanning" in notes(app))  # the card's parts mount when a block comes first
        finding = Finding("oi.curl-pipe-shell", 2, 2, "ERROR", "Pipes a download into a shell")
        bus.publish(ScanFinished("approval-x", ScanResult("findings", (finding,), seconds=0.8)))
        await wait_for(pilot, lambda: 1 in chat(app).editor.marks)
        mark = chat(app).editor.marks[1]
        assert mark.glyph == "◆" and mark.level == "high" and "Pipes a download into a shell" in mark.reasons
        assert "1 finding" in notes(app) and "L2" in notes(app)
        assert "◆" in gutter(app, 1)[: chat(app).editor.gutter_width]


@needs_semgrep
async def test_safe_mode_auto_scans_with_real_semgrep_and_marks_the_line(make_interpreter, llm):
    llm.queue("```shell\necho start\nrm -rf ~\necho end\n```\n")
    interp = make_interpreter(safe_mode="auto", auto_run=True)  # -y plus safe mode still asks
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "wipe")
        pending = await wait_for_approval(pilot)
        assert pending.forced
        status = str(chat(app).query_one("#status").render())
        assert "auto-run on · asks" in status
        await wait_for(pilot, lambda: pending.scan is not None and pending.scan.status not in ("scanning", "off"),
                       timeout=60)
        assert pending.scan.status == "findings", pending.scan
        assert any(f.line == 2 for f in pending.findings)
        assert chat(app).editor.marks[1].glyph == "◆"
        assert "finding" in notes(app)
        await dismiss(pilot)


@needs_semgrep
async def test_safe_mode_ask_offers_the_scan_key_on_the_card(make_interpreter, llm):
    llm.queue("```shell\necho harmless\n```\n")
    interp = make_interpreter(safe_mode="ask")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "say it")
        pending = await wait_for_approval(pilot)
        assert pending.can_scan and "not scanned yet" in notes(app)
        await pilot.press("c")  # a letter in the prompt does nothing
        assert pending.can_scan and chat(app).prompt.text == "c"
        await pilot.press("tab", "c")
        await wait_for(pilot, lambda: pending.scan.status not in ("off", "scanning"), timeout=60)
        assert pending.scan.status == "clean", pending.scan
        assert "no findings" in notes(app)
        await dismiss(pilot)


async def test_missing_semgrep_is_said_on_every_card(make_interpreter, llm, monkeypatch):
    monkeypatch.setenv("OI_TUI_SEMGREP", "/nonexistent/semgrep")
    llm.queue("```shell\necho one\n```\n", "```shell\necho two\n```\n")
    interp = make_interpreter(safe_mode="auto")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        for word in ("one", "two"):
            await send(pilot, word)
            pending = await wait_for_approval(pilot)
            await wait_for(pilot, lambda: pending.scan is not None and pending.scan.status != "scanning")
            assert pending.scan.status == "not_scanned"
            assert "not scanned: " in notes(app) and pending.scan.detail
            await dismiss(pilot)
            await wait_for(pilot, lambda: chat(app).status == "idle")


async def test_always_allow_from_the_card_then_view_and_remove(make_interpreter, llm):
    llm.queue("```shell\ngit status -s\n```\n")
    interp = make_interpreter()
    added: list[AllowRuleAdded] = []
    interp.bus.on(AllowRuleAdded, added.append)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "status")
        await wait_for_approval(pilot)
        await pilot.press("tab", "a")
        card = chat(app).approval_card
        assert card.box == "allow"
        await pilot.press("enter")  # the first, most specific suggestion
        await wait_for(pilot, lambda: interp.allow_rules)
        assert added[0].rule == {"language": "shell", "kind": "command-prefix", "pattern": "git status"}
        assert "git status" in notes(app) and chat(app).pending is not None  # this block still waits
        await dismiss(pilot)
        await wait_for(pilot, lambda: chat(app).status == "idle")
        await app.run_action("allow_rules")
        await wait_for(pilot, lambda: isinstance(app.screen, AllowRulesScreen))
        assert "shell commands starting with `git status`" in app.screen.rules[0][0]
        await pilot.press("d")
        await wait_for(pilot, lambda: interp.allow_rules == [])
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AllowRulesScreen))
