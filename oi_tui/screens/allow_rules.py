"""The allow rules in force: what runs without asking, and a key to remove each rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from oi_core.events import AllowRuleRemoved
from oi_core.sanitize import terminal_safe

PRECEDENCE = (
    "A rule lets matching code run without asking. It never overrides safe-mode findings, high-risk marks "
    "or code cut off by the token limit: those always ask."
)


def describe_rules(rules: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(phrase, rule) for each rule, in the words the approval card uses."""
    from oi_core.safety.allow import describe, parse_rules

    described = []
    for rule in rules:
        parsed, _problems = parse_rules([rule])
        described.append((describe(parsed[0]) if parsed else str(rule), rule))
    return described


class AllowRulesScreen(ModalScreen[None]):
    """Lists the core's allow rules (from the client's state); d (or Delete) removes the highlighted one."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("d,delete", "remove", "Remove rule", id="allow_rules.remove"),
        Binding("escape", "close", "Close", id="allow_rules.close"),
    ]

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client  # oi_core.client.CoreClient
        self.rules = describe_rules([dict(rule) for rule in client.state.allow_rules])

    def compose(self) -> ComposeResult:
        with Vertical(id="allow-dialog"):
            yield Label(Content.assemble(("Always-allow rules", "bold")), id="allow-title")
            yield Label(PRECEDENCE, id="allow-precedence")
            yield OptionList(id="allow-list")
            yield Label("", id="allow-empty")
            yield Label("d removes the highlighted rule · esc closes · add rules from the approval card (tab, then a)",
                        id="allow-keys")

    def on_mount(self) -> None:
        self._show()
        self.query_one(OptionList).focus()

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for description, _rule in self.rules:
            options.add_option(Option(terminal_safe(description)))
        options.display = bool(self.rules)
        empty = self.query_one("#allow-empty", Label)
        empty.display = not self.rules
        empty.update("No rules: every block asks before it runs.")
        if self.rules:
            options.highlighted = 0

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "remove":
            return bool(self.rules)
        return True

    def action_remove(self) -> None:
        options = self.query_one(OptionList)
        index = options.highlighted
        if index is None or not 0 <= index < len(self.rules):
            return
        description, rule = self.rules.pop(index)
        self.client.publish(AllowRuleRemoved(rule))
        self.app.notify(f"Removed: {description}.", title="Allow rules", timeout=4)
        self._show()
        if self.rules:
            options.highlighted = min(index, len(self.rules) - 1)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def keep_open(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # Enter on a rule does nothing: removing is the deliberate d
