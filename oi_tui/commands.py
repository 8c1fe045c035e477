"""oi-tui's entries in the command palette (ctrl+p).

The provider only offers commands the app can carry out right now: an entry whose `action_…` method the
app lacks is hidden, and Stop appears only while the app is busy. Each entry runs the app action through
`app.run_action`, so the behaviour lives in one place (the app) and keys and palette stay in step.

Use it with `COMMANDS = App.COMMANDS | {OiCommands}` on the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: its title, the app action it runs, and a line of help."""

    title: str
    action: str
    help: str


def _auto_run_state(app: Any) -> bool | None:
    """Whether auto-run is on, read from `app.auto_run` or `app.interpreter.auto_run`; None if unknown."""
    value = getattr(app, "auto_run", None)
    if value is None:
        value = getattr(getattr(app, "interpreter", None), "auto_run", None)
    return value if isinstance(value, bool) else None


def _profile_name(app: Any) -> str | None:
    value = getattr(app, "profile_name", None)
    return value if isinstance(value, str) and value else None


def _is_busy(app: Any) -> bool:
    try:
        return bool(getattr(app, "busy", False))
    except Exception:  # noqa: BLE001 - a property that fails must not break the palette
        return False


def palette_commands(app: Any) -> list[PaletteCommand]:
    """The commands that apply to `app` in its current state, in display order."""
    auto_run = _auto_run_state(app)
    if auto_run is None:
        auto_run_help = "Run code without asking first, or ask again before every run"
    elif auto_run:
        auto_run_help = "Auto-run is ON: code runs without asking. Choose to ask before every run"
    else:
        auto_run_help = "Auto-run is OFF: you approve every run. Choose to run code without asking"
    profile = _profile_name(app)
    profile_help = "Load another profile (model, instructions, settings)"
    if profile:
        profile_help += f"; current: {profile}"

    candidates = [
        PaletteCommand("Stop", "stop", "Cancel the reply being written or interrupt the code that is running"),
        PaletteCommand("New conversation", "new_conversation", "Start over with an empty conversation"),
        PaletteCommand("Conversations…", "open_conversations", "Browse, search and reopen past conversations"),
        PaletteCommand("Switch profile…", "switch_profile", profile_help),
        PaletteCommand("Theme…", "change_theme", "Choose the colour theme (the choice is remembered)"),
        PaletteCommand("Toggle auto-run", "toggle_auto_run", auto_run_help),
        PaletteCommand("Show run changes", "show_run_changes", "What the last run changed on disk, file by file (f4)"),
        PaletteCommand("Undo last run", "undo_last_run",
                       "Put back the files the last run created, changed or deleted (f8)"),
        PaletteCommand("Rewind to…", "rewind", "Go back to an earlier message: its files and the conversation (f9)"),
        PaletteCommand("Allow rules…", "allow_rules",
                       "See the rules that let code run without asking, and remove them"),
        PaletteCommand(
            "Export conversation to Markdown", "export_markdown", "Save this conversation as a Markdown file"
        ),
        PaletteCommand("Edit profile", "edit_profile", "Open the active profile in $EDITOR, then apply it"),
        PaletteCommand("Open profile folder", "open_profile_dir", "Show the folder holding your profiles"),
        PaletteCommand("Set API key…", "set_api_key", "Choose a provider or local server and store its API key"),
        PaletteCommand("Local model…", "local_models",
                       "Find model servers running here (Ollama, LM Studio, Jan, llamafile) and choose a model"),
    ]
    busy = _is_busy(app)
    return [
        command
        for command in candidates
        if callable(getattr(app, f"action_{command.action}", None)) and (command.action != "stop" or busy)
        and _allowed_now(app, command.action)
    ]


def _allowed_now(app: Any, action: str) -> bool:
    """The app's own check_action (e.g. nothing to undo yet) hides an entry, as it hides its key in the footer."""
    check = getattr(app, "check_action", None)
    try:
        return not callable(check) or check(action, ()) is not False
    except Exception:  # noqa: BLE001 - a failing check must not break the palette
        return True


class OiCommands(Provider):
    """Palette provider for oi-tui's own commands; what it offers depends on the app's state."""

    def _runner(self, action: str) -> Callable[[], Any]:
        return partial(self.app.run_action, action)

    def _commands(self) -> Iterator[PaletteCommand]:
        yield from palette_commands(self.app)

    async def discover(self) -> Hits:
        """Everything on offer, shown before the user types."""
        for command in self._commands():
            yield DiscoveryHit(command.title, self._runner(command.action), help=command.help)

    async def search(self, query: str) -> Hits:
        """Commands whose title matches `query`, best match first (the palette sorts by score)."""
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    self._runner(command.action),
                    text=command.title,
                    help=command.help,
                )


__all__ = ["OiCommands", "PaletteCommand", "palette_commands"]
