"""Textual's stylesheet, with each CSS source parsed once per theme.

Textual parses every source again on a reparse (when a screen's CSS is loaded, on refresh_css) and
empties its parse cache whenever variables are set, even to the same values. At launch that parsed the
chat screen's CSS three times and every widget's default CSS twice: ~15 ms before the first frame.
"""

from __future__ import annotations

from textual.css.stylesheet import Stylesheet


class ParseOnceStylesheet(Stylesheet):
    """Reparses through the parse cache, which only a real change of variables (a new theme) empties."""

    def __init__(self, *, variables: dict[str, str] | None = None) -> None:
        super().__init__(variables=variables)
        self.variables = dict(variables or {})
        """The values the cached rules were parsed with."""

    def set_variables(self, variables: dict[str, str]) -> None:
        if variables == self.variables:
            return
        self.variables = dict(variables)
        super().set_variables(variables)

    def reparse(self) -> None:
        """Textual's parse() keeps the current rules when a source is invalid, as reparse() promises."""
        self.parse()
