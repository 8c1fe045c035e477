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
        parts = [f"[bold {dot}]●[/] [bold]{STATE_LABELS.get(self.state, escape(self.state))}[/]"]
        parts.append(f"[$accent]{escape(terminal_safe(self.model) or 'no model')}[/]")
        if self.profile:
            parts.append(f"profile {escape(terminal_safe(self.profile))}")
        parts.append(f"${self.cost:.4f}")
        safe_mode = self.safe_mode if self.safe_mode in ("ask", "auto") else ""
        if self.auto_run and (self.forced or safe_mode):
            why = escape(terminal_safe(self.forced)) if self.forced else f"safe mode {safe_mode}"
            parts.append(f"[bold $warning]auto-run on · asks: {why}[/]")
        elif self.auto_run:
            parts.append("[bold $error]auto-run ON[/]")
        else:
            parts.append("[$text-muted]auto-run off[/]")
            if safe_mode:
                parts.append(f"[bold]safe mode {safe_mode}[/]")
        return Content.from_markup(" " + "  │  ".join(parts))
