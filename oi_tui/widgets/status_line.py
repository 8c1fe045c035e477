"""The status line: model, profile, running cost, auto-run and what the core is doing."""

from __future__ import annotations

from textual.content import Content
from textual.markup import escape
from textual.reactive import reactive
from textual.widgets import Static

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

    def render(self) -> Content:
        dot = "$success" if self.state == "idle" else "$warning"
        parts = [f"[bold {dot}]●[/] [bold]{STATE_LABELS.get(self.state, escape(self.state))}[/]"]
        parts.append(f"[$accent]{escape(self.model or 'no model')}[/]")
        if self.profile:
            parts.append(f"profile {escape(self.profile)}")
        parts.append(f"${self.cost:.4f}")
        if self.auto_run:
            parts.append("[bold $error]auto-run[/]")
        return Content.from_markup(" " + "  │  ".join(parts))
