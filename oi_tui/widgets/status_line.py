"""The status line: model, profile, running cost, auto-run, safe mode and what the core is doing.

Whether code runs without asking is always on screen: "auto-run off", "auto-run ON", or, when safe mode
forces approval although auto-run is on, "auto-run on · asks: safe mode".
"""

from __future__ import annotations

from textual.content import Content
from textual.markup import escape
from textual.reactive import reactive
from textual.widgets import Static

from oi_core.sanitize import terminal_safe

STATE_LABELS = {
    "idle": "ready",
    "thinking": "thinking…",
    "awaiting_approval": "waiting for approval",
    "running": "running…",
    "awaiting_input": "waiting for input",
    "stopping": "stopping…",
}


class StatusLine(Static):
    """One line summarising the session."""

    model: reactive[str] = reactive("")
    profile: reactive[str] = reactive("")
    cost: reactive[float] = reactive(0.0)
    state: reactive[str] = reactive("idle")
    auto_run: reactive[bool] = reactive(False)
    safe_mode: reactive[str] = reactive("off")
    forced: reactive[str] = reactive("")
    """Why the pending block asks although auto-run is on ("" when it does not)."""

    def render(self) -> Content:
        dot = "$success" if self.state == "idle" else "$warning"
        state = f"[bold {dot}]●[/] [bold]{STATE_LABELS.get(self.state, escape(self.state))}[/]"
        safe_mode = self.safe_mode if self.safe_mode in ("ask", "auto") else ""
        approval: list[str] = []  # whether code runs unasked: never dropped for lack of width
        if self.auto_run and (self.forced or safe_mode):
            why = escape(terminal_safe(self.forced)) if self.forced else f"safe mode {safe_mode}"
            approval.append(f"[bold $warning]auto-run on · asks: {why}[/]")
        elif self.auto_run:
            approval.append("[bold $error]auto-run ON[/]")
        else:
            approval.append("[$text-muted]auto-run off[/]")
            if safe_mode:
                approval.append(f"[bold]safe mode {safe_mode}[/]")
        optional = [f"[$accent]{escape(terminal_safe(self.model) or 'no model')}[/]"]
        if self.profile:
            optional.append(f"profile {escape(terminal_safe(self.profile))}")
        optional.append(f"${self.cost:.4f}")
        # On a narrow terminal the cost goes first, then the profile, then the model; approval state stays.
        width = self.size.width or 10_000
        while True:
            content = Content.from_markup(" " + "  │  ".join([state, *optional, *approval]))
            if content.cell_length <= width or not optional:
                return content
            optional.pop()
