"""The approval card: what the pending code will do, and the deliberate keys that decide about it.

The card never takes focus by itself. From the prompt, ctrl+r / ctrl+g / esc act on it (the chat
screen's bindings); its letter keys (r, e, s, f, c, a) work only once the user has moved focus onto
it with Tab or a click, so no sentence typed into the prompt can run, edit or skip code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widget import AwaitMount
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from oi_core.sanitize import terminal_safe

if TYPE_CHECKING:  # field types only: the safety checks load with the first code block
    from oi_core.safety.types import Finding, RiskMark, ScanResult

#: After the card appears, run/edit/skip keys are ignored this long, so keys typed ahead never decide.
ARMING_DELAY = 0.3

#: How many risky lines / findings the card lists before "+N more".
LISTED = 3

LEVEL_STYLES = {"high": "bold $error", "medium": "bold $warning", "low": "$text-muted"}
SEVERITY_STYLES = {"ERROR": "bold $error", "WARNING": "bold $warning", "INFO": "$accent"}
SEVERITY_LEVELS = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}
RISK_GLYPH = "●"
FINDING_GLYPH = "◆"


@dataclass
class PendingApproval:
    """One block waiting for the user's decision, as the chat screen tracks it."""

    request_id: str
    language: str  # sanitised for display
    code: str  # the model's code, byte-exact: what runs unless the user edits it
    shown: str  # the code as the editor shows it (control characters made visible)
    risks: tuple[RiskMark, ...] = ()
    scan: ScanResult | None = None
    incomplete: bool = False
    forced: str = ""
    summary: str = ""
    ready_at: float = field(default_factory=lambda: time.monotonic() + ARMING_DELAY)
    editing: bool = False
    scan_started: float = field(default_factory=time.monotonic)
    edited_marks: tuple[RiskMark, ...] | None = None  # risk marks of the edited text, when it differs

    def ready_for(self, pressed_at: float) -> bool:
        """A key pressed before the card had been on screen a moment (typed ahead) never decides."""
        return pressed_at >= self.ready_at

    @property
    def ready(self) -> bool:
        return self.ready_for(time.monotonic())

    @property
    def scanning(self) -> bool:
        return self.scan is not None and self.scan.status == "scanning"

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.scan.findings if self.scan is not None else ()

    @property
    def can_scan(self) -> bool:
        """Safe mode "ask" offers a scan until one has run."""
        return self.scan is not None and self.scan.status == "off"

    @property
    def current_risks(self) -> tuple[RiskMark, ...]:
        return self.risks if self.edited_marks is None else self.edited_marks

    @property
    def has_concerns(self) -> bool:
        """Something the model can be asked to explain or fix."""
        return bool(self.risks or self.findings)

    @property
    def has_hidden_characters(self) -> bool:
        return self.shown != self.code


def risk_phrase(marks: tuple[RiskMark, ...]) -> str:
    """Distinct reasons, worst first, for a one-line summary."""
    order = {"high": 0, "medium": 1, "low": 2}
    seen: list[str] = []
    for mark in sorted(marks, key=lambda m: (order.get(m.level, 3), m.line)):
        if mark.reason not in seen:
            seen.append(mark.reason)
    return "; ".join(seen)


def scan_content(pending: PendingApproval) -> Content | None:
    """One line about safe mode's scan of this block (None when safe mode is off)."""
    scan = pending.scan
    if scan is None:
        return None
    detail = terminal_safe(scan.detail)
    if scan.status == "off":
        return Content.assemble(("safe mode: ", "bold"), "not scanned yet · ", ("c", "bold $accent"),
                                " on the card scans it (tab, then c)")
    if scan.status == "scanning":
        seconds = time.monotonic() - pending.scan_started
        spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"[int(seconds * 8) % 10]
        return Content.assemble(("safe mode: ", "bold"), (f"{spinner} scanning… {seconds:.1f} s", "$warning"),
                                " · ctrl+r asks to run without waiting")
    if scan.status == "clean":
        return Content.assemble(("safe mode: ", "bold"), ("no findings", "$success"), f" ({scan.seconds:.1f} s)")
    if scan.status == "findings":
        count = len(scan.findings)
        parts: list[Any] = [("safe mode: ", "bold"), (f"{count} finding{'s' if count != 1 else ''}", "bold $error"),
                            " (◆ in the editor): "]
        for index, finding in enumerate(scan.findings[:LISTED]):
            if index:
                parts.append(" · ")
            parts.append((f"{FINDING_GLYPH} L{finding.line} ", SEVERITY_STYLES.get(finding.severity, "bold")))
            parts.append(terminal_safe(finding.message))
        if count > LISTED:
            parts.append(f" · +{count - LISTED} more")
        return Content.assemble(*parts)
    if scan.status == "skipped":
        return Content.assemble(("safe mode: ", "bold"), ("scan skipped", "$warning"))
    label = "scan failed" if scan.status == "failed" else "not scanned"
    return Content.assemble((f"{label}: ", "bold $warning"), detail or "no reason given")


def risk_content(pending: PendingApproval) -> Content | None:
    """The classifier's one-line summary, then the marked lines by category (None when no line is marked)."""
    marks = pending.current_risks
    if not marks:
        return None
    worst = "high" if any(m.level == "high" for m in marks) else "medium" if any(
        m.level == "medium" for m in marks) else "low"
    summary = pending.summary if pending.edited_marks is None and pending.summary else risk_phrase(marks)
    parts: list[Any] = [("⚠ " + terminal_safe(summary), LEVEL_STYLES[worst]), "\n  "]
    for index, mark in enumerate(marks[: LISTED * 2]):
        if index:
            parts.append(" · ")
        parts.append((f"{RISK_GLYPH} L{mark.line} ", LEVEL_STYLES.get(mark.level, "bold")))
        parts.append(terminal_safe(mark.category.replace("_", " ")))
    if len(marks) > LISTED * 2:
        parts.append(f" · +{len(marks) - LISTED * 2} more")
    parts.append(("  (the editor shows why for the line under the cursor)", "$text-muted"))
    return Content.assemble(*parts)


def notes_content(pending: PendingApproval, flash: str = "") -> Content:
    """Everything the card says below its question, one line per topic."""
    lines: list[Content] = []
    if flash:
        lines.append(Content.assemble((flash, "bold $warning")))
    if pending.incomplete:
        lines.append(Content.assemble(
            ("✂ incomplete: ", "bold $error"),
            "the reply was cut off by the token limit inside this block. Edit it, or ctrl+r asks you to confirm."))
    if pending.forced:
        lines.append(Content.assemble(("approval asked although auto-run is on: ", "bold"), terminal_safe(pending.forced)))
    if pending.has_hidden_characters:
        lines.append(Content.assemble(("control characters ", "bold $warning"),
                                      "in this code are shown as ␛, ␍, <U+…>; they run as the model wrote them"))
    risk = risk_content(pending)
    if risk is not None:
        lines.append(risk)
    scan = scan_content(pending)
    if scan is not None:
        lines.append(scan)
    return Content("\n").join(lines)


class ApprovalCard(Vertical, can_focus=True):
    """Shown while code waits for a decision; focusable (Tab or a click), never focused by itself."""

    BINDINGS = [
        Binding("r", "choose('run')", "Run", id="approval.run", tooltip="Run the code shown in the editor"),
        Binding("e", "choose('edit')", "Edit", id="approval.edit", tooltip="Edit the code before running it"),
        Binding("s", "choose('skip')", "Skip…", id="approval.skip",
                tooltip="Don't run it; optionally tell the model why"),
        Binding("f", "choose('fix')", "Ask to fix", id="approval.fix",
                tooltip="Don't run it; ask the model to explain or fix the marked lines"),
        Binding("c", "choose('scan')", "Scan", id="approval.scan", tooltip="Scan the code with safe mode's rules"),
        Binding("a", "choose('allow')", "Always allow…", id="approval.allow",
                tooltip="Add a scoped rule that lets blocks like this run without asking"),
        Binding("escape", "close_box", "Back", id="approval.back"),
    ]

    class ActionChosen(Message):
        """The user picked an action on the card (a key on the focused card, or a click)."""

        def __init__(self, action: str, text: str = "", rule: dict[str, Any] | None = None,
                     pressed_at: float | None = None) -> None:
            super().__init__()
            self.action = action
            self.text = text
            self.rule = rule
            self.pressed_at = time.monotonic() if pressed_at is None else pressed_at
            """When the key or click that chose it happened."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pending: PendingApproval | None = None
        self.box: str = ""  # "skip" or "fix" while the reason box is open, "allow" while rules are offered
        self._flash = ""
        self._flash_timer: Timer | None = None
        self._tick: Timer | None = None
        self._rules: list[dict[str, Any]] = []
        self.built = False
        """The parts are mounted (`build`, after the first frame); until then state waits in `pending`."""
        self._parts: AwaitMount | None = None  # their mount, once started

    def compose(self) -> ComposeResult:
        return iter(())  # the parts come after the first frame (`build`): ~20 ms sooner to the first frame

    def on_mount(self) -> None:
        self._tick = self.set_interval(0.25, self._refresh_scan_progress, pause=True)

    async def build(self) -> None:
        """Mount the card's parts (14 widgets, hidden until code waits); a block shown meanwhile renders now.

        Not in the first frame (~20 ms): the chat screen calls this once typing pauses after it, or when a
        message is sent; `show` calls it when a block comes first.
        """
        if self._parts is not None or not self.is_attached:  # started already, or the app is closing
            return
        self._parts = self.mount_all([
            Horizontal(
                Label("", id="card-question"),
                CardButton("Run ctrl+r", id="card-run", variant="success"),
                CardButton("Edit ctrl+g", id="card-edit", variant="primary"),
                CardButton("Don't run esc", id="card-dismiss", variant="error"),
                id="card-head",
            ),
            Static("", id="card-notes", classes="-empty"),
            Horizontal(
                Label("", id="card-more-hint"),
                CardButton("Skip with reason… s", id="card-skip"),
                CardButton("Ask to fix f", id="card-fix"),
                CardButton("Scan c", id="card-scan"),
                CardButton("Always allow… a", id="card-allow"),
                id="card-more",
            ),
            Input(id="card-reason", classes="-hidden"),
            OptionList(id="card-rules", classes="-hidden"),
        ])
        await self._parts
        self.built = True
        self._render_state()

    # ------------------------------------------------------------ showing state

    def show(self, pending: PendingApproval) -> None:
        """Show a new pending block (or the same one with new data)."""
        self.pending = pending
        self.remove_class("-hidden")
        if self._parts is None:  # shown before its parts were mounted: they render it once they are
            self.call_later(self.build)
        self._render_state()

    def hide(self) -> None:
        self.pending = None
        self.close_box()
        self.add_class("-hidden")
        if self._tick is not None:
            self._tick.pause()

    def flash(self, text: str, seconds: float = 2.5) -> None:
        """A short notice on the card (e.g. a key pressed before the card was ready)."""
        self._flash = text
        if self._flash_timer is not None:
            self._flash_timer.stop()
        self._flash_timer = self.set_timer(seconds, self._clear_flash)
        self._render_state()

    def _clear_flash(self) -> None:
        self._flash = ""
        self._render_state()

    def _refresh_scan_progress(self) -> None:
        if self.pending is None or not self.pending.scanning:
            if self._tick is not None:
                self._tick.pause()
        self._render_notes()

    def _render_state(self) -> None:
        pending = self.pending
        if pending is None or not self.built:
            return
        editing = pending.editing
        self.set_class(editing, "-editing")
        self.set_class(pending.incomplete or any(m.level == "high" for m in pending.current_risks)
                       or bool(pending.findings), "-danger")
        question = self.query_one("#card-question", Label)
        if editing:
            question.update(Content.assemble(("Editing ", "bold"), f"the {pending.language} code: what you see is what runs"))
        else:
            what = "incomplete " if pending.incomplete else ""
            question.update(Content.assemble((f"Run this {what}{pending.language} code?", "bold")))
        run, dismiss = self.query_one("#card-run", Button), self.query_one("#card-dismiss", Button)
        run.label = "Run edited ctrl+r" if editing else "Run ctrl+r"
        dismiss.label = "Cancel edit esc" if editing else "Don't run esc"
        run.refresh(layout=True)  # a new label needs a new width
        dismiss.refresh(layout=True)
        self.query_one("#card-edit", Button).display = not editing
        more = self.query_one("#card-more")
        more.display = not editing and not self.box
        self.query_one("#card-fix", Button).display = pending.has_concerns
        self.query_one("#card-scan", Button).display = pending.can_scan
        hint = self.query_one("#card-more-hint", Label)
        hint.update("keys on the card ▸" if self.has_focus else "tab ▸")
        self._render_notes()
        if pending.scanning and self._tick is not None:
            self._tick.resume()
        self.refresh_bindings()

    def _render_notes(self) -> None:
        if self.pending is None or not self.built:
            return
        notes = self.query_one("#card-notes", Static)
        content = notes_content(self.pending, self._flash)
        notes.update(content)
        notes.set_class(not content.plain, "-empty")

    def on_focus(self) -> None:
        self._render_state()

    def on_blur(self) -> None:
        self._render_state()

    # ------------------------------------------------------------ keys and clicks

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        pending = self.pending
        if action == "choose":
            if pending is None or pending.editing or self.box:
                return False
            choice = parameters[0] if parameters else ""
            if choice == "fix":
                return pending.has_concerns
            if choice == "scan":
                return pending.can_scan
            return True
        if action == "close_box":
            return bool(self.box)
        return True

    def action_choose(self, choice: str) -> None:
        if choice == "skip":
            self.open_box("skip")
        elif choice == "fix":
            self.open_box("fix")
        else:
            pressed_at = getattr(self.app, "last_key_time", None)
            self.post_message(self.ActionChosen(choice, pressed_at=pressed_at))

    @on(Button.Pressed)
    def choose_by_click(self, event: Button.Pressed) -> None:
        event.stop()
        if self.pending is None:
            return
        button = (event.button.id or "").removeprefix("card-")
        if self.pending.editing:
            self.post_message(self.ActionChosen({"run": "run", "dismiss": "cancel_edit"}.get(button, button)))
        elif button in ("skip", "fix"):
            self.action_choose(button)
        else:
            self.post_message(self.ActionChosen(button))

    # ------------------------------------------------------------ the reason box and the rule picker

    def open_box(self, kind: str) -> None:
        """An inline line for the reason (skip) or a note for the model (fix); Enter sends, Esc goes back."""
        if not self.built:
            return
        self.box = kind
        box = self.query_one("#card-reason", Input)
        box.value = ""
        box.placeholder = (
            "Why not? The model reads this (optional) · Enter skips · Esc goes back" if kind == "skip" else
            "What should the model look at? (optional) · Enter asks it to explain or fix · Esc goes back"
        )
        box.remove_class("-hidden")
        self._render_state()
        box.focus()

    def offer_rules(self, rules: list[tuple[str, dict[str, Any]]]) -> None:
        """List scoped rules (description, rule dict) that would let blocks like this one run without asking."""
        if self.pending is None or not self.built:
            return
        self._rules = list(rules)
        picker = self.query_one("#card-rules", OptionList)
        picker.clear_options()
        for description, _rule in self._rules:
            picker.add_option(Option(Content.assemble("Always allow ", (terminal_safe(description), "bold"))))
        picker.add_option(Option(Content.assemble(("See and remove rules…", "italic"))))
        picker.add_option(Option(Content.assemble(("Back", "italic"))))
        self.box = "allow"
        picker.remove_class("-hidden")
        picker.highlighted = 0
        self._render_state()
        picker.focus()

    def close_box(self) -> None:
        was_open = bool(self.box)
        self.box = ""
        if not self.built:
            return
        self.query_one("#card-reason", Input).add_class("-hidden")
        self.query_one("#card-rules", OptionList).add_class("-hidden")
        if was_open and self.pending is not None:
            self._render_state()
            self.focus()

    def action_close_box(self) -> None:
        self.close_box()

    @on(Input.Submitted, "#card-reason")
    def send_reason(self, event: Input.Submitted) -> None:
        event.stop()
        kind = self.box
        self.close_box()
        self.post_message(self.ActionChosen(kind, text=event.value.strip()))

    @on(OptionList.OptionSelected, "#card-rules")
    def pick_rule(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = event.option_index
        self.close_box()
        if 0 <= index < len(self._rules):
            description, rule = self._rules[index]
            self.post_message(self.ActionChosen("add_rule", text=description, rule=rule))
        elif index == len(self._rules):
            self.post_message(self.ActionChosen("manage_rules"))


class CardButton(Button, can_focus=False):
    """A compact button that is not a Tab stop (the card is one); a click acts on it."""

    def __init__(self, label: str, **kwargs) -> None:
        super().__init__(label, compact=True, **kwargs)
