"""Allow rules in the core (issue 10 §5): a matching block runs unasked and says so; nothing overrides findings,
high-risk marks or cut-off code; rules are added and removed over the bus and kept in the profile.
"""

from __future__ import annotations

import asyncio

import yaml

from oi_core.events import (
    AllowRuleAdded,
    AllowRuleRemoved,
    ApprovalRequested,
    CodeAllowedByRule,
    CodeSkipped,
    ErrorRaised,
    ScanFinished,
    SettingsApplied,
    TurnFinished,
    UserMessageSent,
)
from oi_core.session import Session
from tests.llm_server import Reply

LS = {"language": "shell", "kind": "command-prefix", "pattern": "ls"}


async def next_of(sub, kinds, timeout=30.0):
    async def wait():
        async for event in sub:
            if isinstance(event, kinds):
                return event
    return await asyncio.wait_for(wait(), timeout)


async def turn(make_interpreter, llm, reply, **settings):
    interp = make_interpreter(**settings)
    session = Session(interp)
    sub = interp.bus.subscribe(ApprovalRequested, CodeAllowedByRule, ScanFinished, TurnFinished, ErrorRaised,
                               SettingsApplied)
    llm.queue(reply, "ok")
    interp.bus.publish(UserMessageSent("go"))
    return interp, session, sub, await next_of(sub, (ApprovalRequested, CodeAllowedByRule))


async def test_a_matching_block_runs_unasked_and_says_so(make_interpreter, llm, tmp_path) -> None:
    (tmp_path / "visible.txt").write_text("x")
    interp, session, sub, event = await turn(make_interpreter, llm, f"```shell\nls {tmp_path}\n```\n",
                                             allow_rules=[LS])
    assert isinstance(event, CodeAllowedByRule), "a block an allow rule covers must not wait for approval"
    assert event.rule == LS and event.description == "shell commands starting with `ls`"
    assert (await next_of(sub, TurnFinished)).reason == "done"
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["allowed_by"] == LS  # recorded in the conversation
    assert "visible.txt" in next(m for m in interp.messages if m.get("format") == "output")["content"]
    await session.close()


async def test_a_rule_never_matches_a_chained_command(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp, session, sub, event = await turn(make_interpreter, llm, f"```shell\nls; touch {marker}\n```\n",
                                             allow_rules=[LS])
    assert isinstance(event, ApprovalRequested)
    interp.bus.publish(CodeSkipped(event.request_id))
    await next_of(sub, TurnFinished)
    assert not marker.exists()
    await session.close()


async def test_a_rule_never_overrides_a_high_risk_mark(make_interpreter, llm, tmp_path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("x")
    rule = {"language": "shell", "kind": "command-prefix", "pattern": "chmod"}
    interp, session, sub, event = await turn(make_interpreter, llm, f"```shell\nchmod 777 {target}\n```\n",
                                             allow_rules=[rule])
    assert isinstance(event, ApprovalRequested) and any(m.level == "high" for m in event.risks)
    interp.bus.publish(CodeSkipped(event.request_id))
    await next_of(sub, TurnFinished)
    assert target.stat().st_mode & 0o777 != 0o777
    await session.close()


async def test_a_rule_never_overrides_safe_mode_findings(make_interpreter, llm) -> None:
    rule = {"language": "shell", "kind": "command-prefix", "pattern": "curl"}
    interp, session, sub, event = await turn(make_interpreter, llm, "```shell\ncurl -k https://example.invalid/\n```\n",
                                             allow_rules=[rule], safe_mode="auto")
    assert isinstance(event, ApprovalRequested), "a scan finding must keep the rule out"
    assert event.scan is not None and event.scan.status == "findings"  # the rule needed the verdict first
    assert event.scan.findings[0].rule_id == "shell-disable-tls-verification"
    interp.bus.publish(CodeSkipped(event.request_id))
    await next_of(sub, TurnFinished)
    await session.close()


async def test_a_rule_applies_after_a_clean_scan(make_interpreter, llm, tmp_path) -> None:
    interp, session, sub, event = await turn(make_interpreter, llm, f"```shell\nls {tmp_path}\n```\n",
                                             allow_rules=[LS], safe_mode="auto")
    assert isinstance(event, CodeAllowedByRule)
    await next_of(sub, TurnFinished)
    code = next(m for m in interp.messages if m["type"] == "code")
    assert code["scan"]["status"] == "clean" and code["allowed_by"] == LS
    await session.close()


async def test_a_rule_never_runs_cut_off_code(make_interpreter, llm, tmp_path) -> None:
    reply = Reply(text=f"```shell\nls {tmp_path}", finish_reason="length")
    interp, session, sub, event = await turn(make_interpreter, llm, reply, allow_rules=[LS], auto_run=True)
    assert isinstance(event, ApprovalRequested) and event.incomplete
    interp.bus.publish(CodeSkipped(event.request_id))
    await next_of(sub, TurnFinished)
    await session.close()


def test_rules_apply_to_the_python_api_without_a_reader_approving(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter(allow_rules=[LS])
    llm.queue(f"```shell\nls {tmp_path}\n```\n", "ok")
    new = interp.chat("go", display=False)  # nobody to ask: only the rule can let it run
    assert next(m for m in new if m["type"] == "code")["allowed_by"] == LS
    assert not any(m.get("not_run") for m in new)


async def test_rules_are_added_and_removed_over_the_bus_and_saved_in_the_profile(make_interpreter, llm) -> None:
    from oi_core.profiles import editable_profile

    interp = make_interpreter()
    interp.profile = "default"
    session = Session(interp)
    sub = interp.bus.subscribe(SettingsApplied, ErrorRaised)
    interp.bus.publish(AllowRuleAdded(LS))
    applied = await next_of(sub, (SettingsApplied, ErrorRaised))
    assert isinstance(applied, SettingsApplied) and applied.changed == {"allow_rules": [LS]}
    assert interp.allow_rules == [LS]
    path = editable_profile("default")
    saved = yaml.safe_load(path.read_text())
    assert saved["allow_rules"] == [LS] and "llm" in saved  # the rest of the profile is kept
    git = {"language": "shell", "kind": "command-prefix", "pattern": "git status", "note": "read-only git"}
    interp.bus.publish(AllowRuleAdded(git))
    await next_of(sub, SettingsApplied)
    interp.bus.publish(AllowRuleRemoved(LS))
    await next_of(sub, SettingsApplied)
    assert interp.allow_rules == [git]
    assert yaml.safe_load(path.read_text())["allow_rules"] == [git]
    interp.bus.publish(AllowRuleAdded({"language": "shell", "kind": "command-prefix", "pattern": "ls; rm"}))
    error = await next_of(sub, (SettingsApplied, ErrorRaised))
    assert isinstance(error, ErrorRaised) and "plain command words" in error.message
    assert interp.allow_rules == [git]
    await session.close()


def test_a_saved_rule_is_loaded_with_the_profile(make_interpreter) -> None:
    from oi_core.profiles import apply_profile, save_allow_rules

    save_allow_rules("default", [LS])
    interp = make_interpreter()
    warnings = apply_profile(interp, "default")
    assert interp.allow_rules == [LS], warnings
    save_allow_rules("default", [])
    apply_profile(interp, "default")
    assert interp.allow_rules == []


def test_bad_rules_are_refused_with_one_sentence(make_interpreter) -> None:
    import pytest

    from oi_core.errors import SettingsError

    interp = make_interpreter()
    with pytest.raises(SettingsError, match="allow_rules: allow rule 1: kind must be"):
        interp.set_setting("allow_rules", [{"language": "shell", "kind": "anything"}])
    assert interp.allow_rules == []


async def test_rules_that_cannot_match_do_not_delay_the_card_for_the_scan(make_interpreter, llm) -> None:
    interp, session, sub, event = await turn(make_interpreter, llm, "```shell\necho not-ls\n```\n",
                                             allow_rules=[LS], safe_mode="auto")
    assert isinstance(event, ApprovalRequested) and event.scan.status == "scanning"
    interp.bus.publish(CodeSkipped(event.request_id))
    await next_of(sub, TurnFinished)
    await session.close()
