"""Safe mode in the core (issue 10 §3): real semgrep on our shipped rules, through the bus and the Python API.

Blocks that would be dangerous are never run here: they are declined, skipped or sent back to the model.
"""

from __future__ import annotations

import asyncio
import json

from oi_core.events import (
    ApprovalRequested,
    ApprovalResolved,
    CodeApproved,
    CodeSkipped,
    ScanFinished,
    ScanRequested,
    TurnFinished,
    UserMessageSent,
)
from oi_core.safety import scanner
from oi_core.session import Session

DANGEROUS = "echo cleaning\nrm -rf ~\n"  # the finding must land on line 2



async def next_of(sub, kind, timeout=30.0):
    async def wait():
        async for event in sub:
            if isinstance(event, kind):
                return event
    return await asyncio.wait_for(wait(), timeout)


async def ask(make_interpreter, llm, code: str, **settings):
    interp = make_interpreter(**settings)
    session = Session(interp)
    sub = interp.bus.subscribe(ApprovalRequested, ScanFinished, ApprovalResolved, TurnFinished)
    llm.queue(f"```shell\n{code}```\n")
    interp.bus.publish(UserMessageSent("go"))
    return interp, session, sub, await next_of(sub, ApprovalRequested)


def test_semgrep_is_installed_for_these_tests() -> None:
    """CI installs the `safe` extra (pip install -e '.[safe]'); without it the tests below fail, never skip."""
    assert scanner.semgrep_status()[0], scanner.semgrep_status()[1]


async def test_auto_scans_every_block_and_flags_the_right_line(make_interpreter, llm) -> None:
    interp, session, sub, request = await ask(make_interpreter, llm, DANGEROUS, safe_mode="auto")
    assert request.scan is not None and request.scan.status == "scanning", "approval is shown at once, scan running"
    assert any(mark.line == 2 and mark.level == "high" for mark in request.risks)
    finished = await next_of(sub, ScanFinished)
    assert finished.request_id == request.request_id
    assert finished.scan.status == "findings"
    assert [(f.line, f.severity) for f in finished.scan.findings] == [(2, "ERROR")]
    assert finished.scan.findings[0].rule_id == "shell-recursive-delete-home-or-root"
    interp.bus.publish(CodeSkipped(request.request_id))
    await next_of(sub, TurnFinished)
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["scan"]["status"] == "findings" and code["scan"]["findings"][0]["line"] == 2
    await session.close()


async def test_auto_scan_of_a_harmless_block_is_clean(make_interpreter, llm) -> None:
    interp, session, sub, request = await ask(make_interpreter, llm, "ls -la\necho done\n", safe_mode="auto")
    finished = await next_of(sub, ScanFinished)
    assert finished.scan.status == "clean" and finished.scan.findings == ()
    llm.queue("ok")
    interp.bus.publish(CodeApproved(request.request_id, request.code))
    assert (await next_of(sub, TurnFinished)).reason == "done"
    await session.close()


async def test_approving_before_the_scan_ends_records_it_was_skipped(make_interpreter, llm) -> None:
    interp, session, sub, request = await ask(make_interpreter, llm, "echo fast\n", safe_mode="auto")
    assert request.scan.status == "scanning"
    llm.queue("ok")
    interp.bus.publish(CodeApproved(request.request_id, request.code))  # no waiting for semgrep
    assert (await next_of(sub, TurnFinished)).reason == "done"
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["scan"]["status"] == "skipped"
    assert [m["content"] for m in interp.messages if m.get("format") == "output"] == ["fast\n"]
    await session.close()


async def test_ask_mode_scans_on_request(make_interpreter, llm) -> None:
    interp, session, sub, request = await ask(make_interpreter, llm, DANGEROUS, safe_mode="ask")
    assert request.scan is not None and request.scan.status == "off"
    await asyncio.sleep(0.3)
    assert sub.get_nowait() is None, "ask mode must not scan by itself"
    interp.bus.publish(ScanRequested(request.request_id))
    interp.bus.publish(ScanRequested(request.request_id))  # a double press scans once
    finished = await next_of(sub, ScanFinished)
    assert finished.scan.status == "findings" and finished.scan.findings[0].line == 2
    await asyncio.sleep(0.5)
    assert not any(isinstance(e, ScanFinished) for e in iter(sub.get_nowait, None))
    interp.bus.publish(CodeSkipped(request.request_id, how="escape"))
    await next_of(sub, TurnFinished)
    await session.close()


async def test_fix_sends_the_findings_to_the_model(make_interpreter, llm) -> None:
    interp, session, sub, request = await ask(make_interpreter, llm, DANGEROUS, safe_mode="ask")
    llm.queue("That would delete your home folder; here is a safer way.")
    interp.bus.publish(CodeSkipped(request.request_id, how="fix"))  # never scanned yet: the core scans first
    assert (await next_of(sub, TurnFinished)).reason == "done"
    told = llm.requests[-1]["messages"][-1]["content"]
    assert "Safe-mode scan findings:" in told
    assert "line 2 (ERROR, shell-recursive-delete-home-or-root)" in told
    assert "Explain what it does" in told
    await session.close()


async def test_safe_mode_forces_approval_over_auto_run(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, request = await ask(make_interpreter, llm, f"touch {marker}\n", auto_run=True, safe_mode="ask")
    assert request.forced == "safe mode ask"
    await asyncio.sleep(0.5)
    assert not marker.exists()
    interp.bus.publish(CodeSkipped(request.request_id))
    await next_of(sub, TurnFinished)
    assert not marker.exists()
    await session.close()


def test_forcing_is_decided_when_code_arrives_not_when_settings_are_merged(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp = make_interpreter(safe_mode="ask")
    interp.auto_run = True  # e.g. a profile applied after the flag: order must not matter
    llm.queue(f"```shell\ntouch {marker}\n```\n")
    new = interp.chat("go", display=False)
    assert not marker.exists() and new[-1]["not_run"]


def test_api_confirmation_comes_after_the_scan_with_findings(make_interpreter, llm) -> None:
    interp = make_interpreter(safe_mode="auto")
    llm.queue(f"```shell\n{DANGEROUS}```\n")
    gen = interp.chat("go", display=False, stream=True)
    confirmation = next(c for c in gen if c["type"] == "confirmation")
    gen.close()  # refuse: never run it
    assert confirmation["scan"]["status"] == "findings"
    assert confirmation["findings"] == [{
        "rule_id": "shell-recursive-delete-home-or-root", "line": 2, "end_line": 2, "severity": "ERROR",
        "message": confirmation["findings"][0]["message"],
    }]
    assert any(mark["line"] == 2 and mark["category"] == "delete" for mark in confirmation["risks"])
    json.dumps(confirmation)  # plain data, ready for any client
    assert interp.messages[-1]["not_run"]


async def test_missing_semgrep_is_said_on_every_approval(make_interpreter, llm, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OI_TUI_SEMGREP", str(tmp_path / "no-semgrep"))
    for mode in ("ask", "auto"):
        interp, session, sub, request = await ask(make_interpreter, llm, "echo hi\n", safe_mode=mode)
        assert request.scan is not None and request.scan.status == "not_scanned"
        assert request.scan.detail
        interp.bus.publish(CodeSkipped(request.request_id))
        await next_of(sub, TurnFinished)
        await session.close()
