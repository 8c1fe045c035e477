"""A code block that waits for approval: what the safety checks say about it, and every answer in words for the model.

The respond loop builds one `PendingCode` per complete block and asks its approver for a `Decision`.
Whatever the answer, the conversation records it honestly: code that did not run is stored as a
`not_run` note the model reads, and code the user edited keeps the model's original next to it.
"""

from __future__ import annotations

import asyncio
import difflib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .convert import DECLINED
from .safety.types import RiskMark, ScanResult
from .settings import safe_mode_of



def _scanner() -> Any:
    """The semgrep scanner, imported on first use (start-up stays light)."""
    from .safety import scanner

    return scanner


def _allow() -> Any:
    """Allow-rule parsing and matching, imported on first use."""
    from .safety import allow

    return allow


if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

Outcome = Literal["run", "skip", "escape", "fix", "stopped", "refused", "incomplete"]

CUT_OFF = "cut off by the token limit"
CUT_OFF_NOTE = " It was cut off by the token limit (the reply reached its maximum length), so it was incomplete."
NOT_RUN_NOTES: dict[str, str] = {
    "escape": "The user dismissed this code without running it; it was not run.",
    "stopped": "The user stopped the turn before approving this code; it was not run.",
    "refused": "This code was not run: the program reading the reply stopped before approving it.",
    "incomplete": "This code was not run: it was cut off by the token limit (the reply reached its maximum length).",
}
RAN_INCOMPLETE_NOTE = "Your code was cut off by the token limit; the user chose to run it as it was."
MAX_DIFF_LINES = 60


@dataclass(frozen=True)
class Decision:
    """A client's answer to a PendingCode."""

    outcome: Outcome
    code: str = ""  # what to run (outcome "run"): exactly what the user saw, maybe edited
    reason: str = ""  # the user's words when skipping
    confirmed_incomplete: bool = False

    @property
    def ends_turn(self) -> bool:
        """Skips without a reason end the turn; a reason or a fix request goes to the model at once."""
        if self.outcome == "fix":
            return False
        if self.outcome == "skip":
            return not self.reason.strip()
        return self.outcome != "run"


@dataclass
class PendingCode:
    """One complete block waiting for approval, with its risk marks and (in safe mode) its scan."""

    language: str
    code: str
    risks: tuple[RiskMark, ...] = ()
    summary: str = ""
    incomplete: bool = False
    forced: str = ""
    scan: ScanResult | None = None  # None: safe mode off and no scan asked for
    request_id: str = field(default_factory=lambda: f"approval-{uuid.uuid4().hex[:12]}")  # unguessable
    scan_task: asyncio.Task[ScanResult] | None = None

    @property
    def scanning(self) -> bool:
        return self.scan_task is not None and not self.scan_task.done()

    def start_scan(self) -> asyncio.Task[ScanResult] | None:
        """Start the safe-mode scan (once); the result lands in `scan` when it finishes."""
        if self.scan_task is not None or (self.scan is not None and self.scan.status != "off"):
            return self.scan_task
        available, detail = _scanner().semgrep_status()
        if not available:
            self.scan = ScanResult("not_scanned", detail=detail)
            return None
        self.scan = ScanResult("scanning")
        self.scan_task = asyncio.ensure_future(self._scan())
        return self.scan_task

    async def _scan(self) -> ScanResult:
        try:
            result = await _scanner().scan(self.language, self.code)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a scanner bug must not pass as "clean"
            result = ScanResult("failed", detail=f"The scan failed ({type(exc).__name__}: {exc}).")
        self.scan = result
        return result

    async def final_scan(self) -> ScanResult | None:
        """Wait for a running scan; the last known result otherwise."""
        if self.scan_task is not None and not self.scan_task.done():
            try:
                await asyncio.shield(self.scan_task)
            except asyncio.CancelledError:
                if not self.scan_task.cancelled():
                    raise
        return self.scan

    def stop_scan(self) -> None:
        """Decided before the scan finished: stop it and record that it was skipped."""
        if self.scan_task is not None and not self.scan_task.done():
            self.scan_task.cancel()
            self.scan = ScanResult("skipped", detail="The user decided before the scan finished.")

    def confirmation_chunk(self) -> dict[str, Any]:
        """The LMC confirmation chunk, with risk marks, the scan and its findings as plain dicts."""
        chunk: dict[str, Any] = {
            "role": "computer",
            "type": "confirmation",
            "format": "execution",
            "content": {"type": "code", "format": self.language, "content": self.code},
            "risks": [mark.to_dict() for mark in self.risks],
        }
        if self.summary:
            chunk["summary"] = self.summary
        if self.scan is not None:
            chunk["scan"] = self.scan.to_dict()
            chunk["findings"] = [finding.to_dict() for finding in self.scan.findings]
        if self.incomplete:
            chunk["incomplete"] = True
        if self.forced:
            chunk["forced"] = self.forced
        return chunk


#: Given a PendingCode, decide what happens to it.
Approver = Callable[[PendingCode], Awaitable[Decision]]


def prepare(interpreter: "OpenInterpreter", language: str, code: str, incomplete: bool) -> PendingCode:
    """Classify a complete block and, in safe mode, start (auto) or offer (ask) its scan."""
    from .safety import risk  # imported on first use: its rule table costs tens of milliseconds

    marks = risk.classify(language, code)
    pending = PendingCode(language, code, marks, risk.summarize(marks), incomplete)
    mode = safe_mode_of(interpreter)
    if mode == "auto":
        pending.start_scan()
    elif mode == "ask":
        available, detail = _scanner().semgrep_status()
        pending.scan = ScanResult("off") if available else ScanResult("not_scanned", detail=detail)
    if interpreter.auto_run:
        pending.forced = CUT_OFF if incomplete else f"safe mode {mode}" if mode != "off" else ""
    return pending


def needs_approval(interpreter: "OpenInterpreter", pending: PendingCode) -> bool:
    """Decided at the moment of use, so the order flags and profiles were applied in cannot matter."""
    return pending.incomplete or not interpreter.auto_run or safe_mode_of(interpreter) != "off"


def allow_rule_for(interpreter: "OpenInterpreter", pending: PendingCode, *, ignore_scan: bool = False) -> Any | None:
    """The allow rule that lets this block run unasked, if any (see oi_core.safety.allow for the precedence).

    Cut-off code is never offered to the rules; a scan with findings, a failed or unfinished scan, or a
    high-risk mark keeps every rule out. `ignore_scan`: would a rule match if the scan is clean?
    """
    if pending.incomplete or not interpreter.allow_rules:
        return None
    allow = _allow()
    rules, _problems = allow.parse_rules(list(interpreter.allow_rules))
    return allow.first_match(rules, pending.language, pending.code, pending.risks, None if ignore_scan else pending.scan)


def parse_allow_rules(data: Any) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """Valid rules and one sentence per bad one (for settings and the add-rule event)."""
    return _allow().parse_rules(data)


def describe_rule(rule: Any) -> str:
    """An allow rule in words, for the notice that a block ran without asking."""
    return str(rule.note or _allow().describe(rule))


def not_run_note(decision: Decision, pending: PendingCode, scan: ScanResult | None = None) -> str:
    """What the model reads about a block that did not run."""
    if decision.outcome == "fix":
        return fix_request(pending, scan if scan is not None else pending.scan, decision.reason)
    if decision.outcome == "skip":
        note = DECLINED
        if pending.incomplete:
            note += CUT_OFF_NOTE
        reason = " ".join(decision.reason.split())
        return f"{note} Their reason: {reason}" if reason else note
    note = NOT_RUN_NOTES.get(decision.outcome, NOT_RUN_NOTES["refused"])
    if pending.incomplete and decision.outcome != "incomplete":
        note += CUT_OFF_NOTE
    return note


def fix_request(pending: PendingCode, scan: ScanResult | None, note: str = "") -> str:
    """The user's "explain or fix this" request, with their note and every finding and risk reason spelled out."""
    lines = ["The user did not run this code. Explain what it does and why it is needed, or rewrite it more safely."]
    note = " ".join(note.split())
    if note:
        lines.append(f"The user's note: {note}")
    if pending.incomplete:
        lines.append("It was cut off by the token limit, so it is incomplete.")
    if scan is not None and scan.findings:
        lines.append("Safe-mode scan findings:")
        lines += [f"- line {f.line} ({f.severity}, {f.rule_id}): {f.message}" for f in scan.findings]
    elif scan is not None and scan.status == "clean":
        lines.append("The safe-mode scan found nothing.")
    elif scan is not None and scan.detail:
        lines.append(f"It was not scanned: {scan.detail}")
    if pending.risks:
        lines.append("Risk marks:")
        lines += [f"- line {mark.line} ({mark.level}): {mark.reason}" for mark in pending.risks]
    return "\n".join(lines)


def edit_diff(original: str, edited: str) -> str:
    """A short unified diff of the user's edit (capped, and saying so)."""
    lines = list(difflib.unified_diff(original.splitlines(), edited.splitlines(), "your code", "what ran", lineterm="", n=1))
    if len(lines) > MAX_DIFF_LINES:
        dropped = len(lines) - MAX_DIFF_LINES
        lines = lines[:MAX_DIFF_LINES] + [f"[{dropped} more diff lines not shown]"]
    return "\n".join(lines)


def output_preface(code_message: dict[str, Any] | None) -> str:
    """Told to the model with a run's output: that the user edited the code (and how), or ran cut-off code."""
    if not code_message:
        return ""
    parts: list[str] = []
    if code_message.get("edited") and isinstance(code_message.get("original"), str):
        diff = edit_diff(code_message["original"], str(code_message.get("content") or ""))
        parts.append(f"The user edited your code before running it:\n```diff\n{diff}\n```")
    if code_message.get("incomplete"):
        parts.append(RAN_INCOMPLETE_NOTE)
    return "\n\n".join(parts)


def startup_notices(interpreter: "OpenInterpreter") -> list[str]:
    """One sentence each for settings that change approval, said once at start by every front end."""
    notices: list[str] = []
    mode = safe_mode_of(interpreter)
    if mode != "off":
        available, detail = _scanner().semgrep_status()
        if interpreter.auto_run:
            notices.append(f"Safe mode {mode} is on, so code waits for your approval although auto-run is on.")
        if not available:
            notices.append(f"Safe mode cannot scan code: {detail.rstrip('.')}; blocks will say \"not scanned\".")
    elif interpreter.auto_run:
        notices.append("Auto-run is on: code the model writes runs without asking you first.")
    if interpreter.allow_rules and not (interpreter.auto_run and mode == "off"):
        count = len(interpreter.allow_rules)
        notices.append(f"{count} allow rule{'s' if count != 1 else ''} let matching code run without asking.")
    return notices
