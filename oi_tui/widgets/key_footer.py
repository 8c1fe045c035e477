"""Textual's footer, rebuilt only when the keys it shows change.

Textual's footer removes and mounts all its keys again each time the bindings may have changed: every
focus change and every refresh_bindings() schedules its own rebuild, whether or not a key changed. Three
came before the first frame (~10 ms each), and a turn asks for many more while a reply streams.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """A footer that rebuilds when what it shows differs, once per burst of changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rebuild_scheduled = False
        """A rebuild is on its way: it will read the bindings as they are by then."""
        self.shown: tuple[Any, ...] | None = None
        """What the keys on screen were built from (None before the first build)."""

    def bindings_changed(self, screen: Screen) -> None:
        if self.rebuild_scheduled:
            return
        super().bindings_changed(screen)
        # Footer.bindings_changed schedules a rebuild only for its own screen in a focused app
        self.rebuild_scheduled = bool(screen.app.app_focus and self.is_attached and screen is self.screen)

    async def recompose(self) -> None:
        self.rebuild_scheduled = False
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
