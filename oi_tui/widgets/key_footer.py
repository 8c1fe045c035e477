"""Textual's footer, rebuilt only when the keys it shows change.

Textual's footer removes and mounts all its keys again each time the bindings may have changed: every
focus change and every refresh_bindings() schedules its own rebuild, whether or not a key changed. Three
came before the first frame (~10 ms each), and a turn asks for many more while a reply streams. Each asked
rebuild now compares the keys it would build with those on screen, which costs far less than a rebuild.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class KeyFooter(Footer):
    """A footer that rebuilds only when what it shows differs (a burst of changes: the first rebuild does it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown: tuple[Any, ...] | None = None
        """What the keys on screen were built from (None before the first build)."""

    async def recompose(self) -> None:
        if not self.is_attached:  # its screen closed before the rebuild ran
            return
        shown = self.keys_shown()
        if shown == self.shown:
            return
        self.shown = shown
        await super().recompose()

    def keys_shown(self) -> tuple[Any, ...]:
        """Everything Footer.compose reads to build the keys: each shown binding, enabled or not, as displayed."""
        app = self.app
        keys = tuple(
            (binding.key, app.get_key_display(binding), binding.description, binding.action, enabled, tooltip,
             binding.tooltip, binding.group)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )
        return keys, self.show_command_palette, app.ENABLE_COMMAND_PALETTE, app.COMMAND_PALETTE_BINDING
