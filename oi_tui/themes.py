"""Themes: YAML files in `themes/` (ours) and the user's config folder, turned into Textual themes.

A theme file looks like this (see `themes/oi-night.yaml`):

    name: oi-night
    dark: true
    colors: {primary: "#e3a857", background: "#13161d", ...}
    syntax: {keyword: "#d9809a", string: "#a9c98a", ...}      # optional, for the code editor
    variables: {footer-key-foreground: "#e3a857"}           # optional extra Textual CSS variables

A file that cannot be read or holds a bad colour is skipped and reported; it never stops the app.
The chosen theme is remembered in `<user config>/oi-tui/ui.json`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme
from textual.widgets.text_area import TextAreaTheme

from oi_core import parsed_cache

if TYPE_CHECKING:
    from textual.app import App
    from textual.widgets import TextArea

APP_NAME = "oi-tui"
DEFAULT_THEME = "oi-night"
"""The theme used when nothing was saved or the saved one no longer exists."""
FALLBACK_THEME = "textual-dark"
"""Used only if our own theme files are missing altogether (e.g. an install without `themes/`)."""

COLOR_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
"""The `colors:` keys a theme file may set; only `primary` is required (Textual derives the rest)."""

SYNTAX_ROLES = ("keyword", "string", "comment", "number", "function", "type", "constant", "operator")
"""The `syntax:` keys a theme file may set; each colours a family of tree-sitter tokens."""

SYNTAX_VARIABLE_PREFIX = "oi-syntax-"
"""Syntax colours travel inside `Theme.variables` under this prefix, so they follow the theme object."""

_TOP_LEVEL_KEYS = {"name", "dark", "colors", "syntax", "variables", "luminosity_spread", "text_alpha"}
_THEME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ThemeFileError(ValueError):
    """A theme file that cannot be turned into a Textual theme."""


# ------------------------------------------------------------------ locations


def themes_dir() -> Path:
    """The themes shipped with oi-tui: the top-level `themes/` folder (share/oi-tui/themes when installed)."""
    from oi_core.shipped import shipped_dir

    return shipped_dir("themes")


def user_themes_dir() -> Path:
    """Where users drop their own theme files: `<user config>/oi-tui/themes`."""
    return platformdirs.user_config_path(APP_NAME) / "themes"


def theme_dirs() -> list[Path]:
    """Every folder searched for theme files, shipped first so a user theme of the same name wins."""
    return [themes_dir(), user_themes_dir()]


def ui_state_path() -> Path:
    """The small JSON file holding UI choices such as the theme: `<user config>/oi-tui/ui.json`."""
    return platformdirs.user_config_path(APP_NAME) / "ui.json"


# ------------------------------------------------------------------ parsing


def _colour(value: Any, where: str) -> str:
    """The colour as a `#rrggbb` string (or `#rrggbbaa`), or a ThemeFileError naming the bad key."""
    if not isinstance(value, str):
        raise ThemeFileError(f"{where} must be a colour string, not {type(value).__name__}")
    try:
        return Color.parse(value.strip()).hex
    except ColorParseError:
        raise ThemeFileError(f"{where} is not a colour: {value!r}") from None


def theme_from_data(data: Any, source: str = "<theme>") -> tuple[Theme, list[str]]:
    """Build a Textual theme from parsed YAML; returns the theme and warnings about ignored keys."""
    if not isinstance(data, dict):
        raise ThemeFileError("the file must hold a mapping (name, dark, colors, ...)")
    warnings = [f"{source}: unknown key {key!r} ignored" for key in data if key not in _TOP_LEVEL_KEYS]

    name = data.get("name")
    if not isinstance(name, str) or not _THEME_NAME.match(name):
        raise ThemeFileError("`name` must be letters, digits, '-' or '_' (e.g. my-theme)")

    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError("`dark` must be true or false")

    colours = data.get("colors") or {}
    if not isinstance(colours, dict):
        raise ThemeFileError("`colors` must be a mapping of colour names to colours")
    parsed: dict[str, str] = {}
    for key, value in colours.items():
        if key not in COLOR_FIELDS:
            warnings.append(f"{source}: unknown colour {key!r} ignored (known: {', '.join(COLOR_FIELDS)})")
            continue
        parsed[key] = _colour(value, f"colors.{key}")
    if "primary" not in parsed:
        raise ThemeFileError("`colors.primary` is required")

    variables: dict[str, str] = {}
    extra = data.get("variables") or {}
    if not isinstance(extra, dict):
        raise ThemeFileError("`variables` must be a mapping of Textual CSS variables to values")
    for key, value in extra.items():
        if not isinstance(value, (str, int, float)):
            raise ThemeFileError(f"variables.{key} must be a plain value")
        variables[str(key)] = str(value)

    syntax = data.get("syntax") or {}
    if not isinstance(syntax, dict):
        raise ThemeFileError("`syntax` must be a mapping of token kinds to colours")
    for key, value in syntax.items():
        if key not in SYNTAX_ROLES:
            warnings.append(f"{source}: unknown syntax colour {key!r} ignored (known: {', '.join(SYNTAX_ROLES)})")
            continue
        variables[SYNTAX_VARIABLE_PREFIX + key] = _colour(value, f"syntax.{key}")

    numbers: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ThemeFileError(f"`{key}` must be a number between 0 and 1")
            numbers[key] = float(value)

    theme = Theme(name=name, dark=dark, variables=variables, **parsed, **numbers)
    try:  # catches combinations Textual itself rejects, before the app ever sees them
        theme.to_color_system().generate()
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable theme
        raise ThemeFileError(f"Textual rejected the theme: {exc}") from None
    return theme, warnings


def load_theme_file(path: Path) -> tuple[Theme, list[str]]:
    """Read one YAML theme file; raises ThemeFileError with a readable reason."""
    return theme_from_data(parsed_cache.load(path, "theme", _theme_yaml), source=path.name)


def _theme_yaml(path: Path) -> Any:
    """What a theme file holds (PyYAML is imported only here: launches read the parsed cache instead)."""
    import yaml

    from oi_core.yaml_load import safe_load

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"cannot read it: {exc}") from None
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ThemeFileError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def _theme_files(folders: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            files.extend(sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return files


def load_themes(folders: Iterable[Path] | None = None) -> tuple[list[Theme], list[str]]:
    """All themes from the theme folders, and one readable message per problem (broken files are skipped).

    When two files define the same name, the later folder (the user's) wins.
    """
    by_name: dict[str, Theme] = {}
    problems: list[str] = []
    for path in _theme_files(theme_dirs() if folders is None else folders):
        try:
            theme, warnings = load_theme_file(path)
        except ThemeFileError as exc:
            problems.append(f"Theme file {path} skipped: {exc}")
            continue
        problems.extend(warnings)
        by_name[theme.name] = theme
    return list(by_name.values()), problems


# ------------------------------------------------------------------ persistence


def _read_ui_state() -> dict[str, Any]:
    try:
        data = json.loads(ui_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_ui_state(state: dict[str, Any]) -> None:
    """Replace ui.json atomically: write a temporary file beside it, then rename over it."""
    path = ui_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".ui-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(state, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise


def saved_theme() -> str | None:
    """The theme name the user chose last time, if any."""
    name = _read_ui_state().get("theme")
    return name if isinstance(name, str) and name else None


def save_theme(name: str) -> None:
    """Remember the theme choice, keeping any other UI state in the file."""
    state = _read_ui_state()
    if state.get("theme") == name:
        return
    state["theme"] = name
    _write_ui_state(state)


# ------------------------------------------------------------------ the code editor


def _hex(value: str | None, fallback: str) -> Color:
    try:
        return Color.parse(value) if value else Color.parse(fallback)
    except ColorParseError:
        return Color.parse(fallback)


def text_area_theme_for(app_theme: Theme) -> TextAreaTheme:
    """A TextArea theme whose background, gutter, cursor, selection and syntax colours follow `app_theme`.

    Register it on the editor and select it: `text_area.register_theme(t); text_area.theme = t.name`
    (or call `apply_text_area_theme`). Its name is `oi-<app theme name>`.
    """
    system = app_theme.to_color_system().generate()
    dark = app_theme.dark
    background = _hex(system.get("surface"), "#1e1e1e" if dark else "#fafafa")
    foreground = _hex(system.get("foreground"), "#e0e0e0" if dark else "#202020")
    primary = _hex(system.get("primary"), "#0178d4")
    secondary = _hex(system.get("secondary"), primary.hex)
    accent = _hex(system.get("accent"), primary.hex)
    success = _hex(system.get("success"), primary.hex)
    warning = _hex(system.get("warning"), primary.hex)
    error = _hex(system.get("error"), "#ff0000")
    muted = background.blend(foreground, 0.55)
    faint = background.blend(foreground, 0.07)

    defaults = {
        "keyword": accent,
        "string": success,
        "comment": muted,
        "number": warning,
        "function": secondary,
        "type": primary,
        "constant": warning,
        "operator": background.blend(foreground, 0.8),
    }
    role: dict[str, Color] = {}
    for name, default in defaults.items():
        override = app_theme.variables.get(SYNTAX_VARIABLE_PREFIX + name)
        role[name] = _hex(override, default.hex) if override else default

    def fg(name: str, **extra: bool) -> Style:
        return Style(color=role[name].rich_color, **extra)

    syntax_styles = {
        "comment": fg("comment", italic=True),
        "string": fg("string"),
        "string.documentation": fg("comment", italic=True),
        "inline_code": fg("string"),
        "regex.punctuation.bracket": fg("keyword"),
        "regex.operator": fg("keyword"),
        "keyword": fg("keyword"),
        "keyword.function": fg("keyword"),
        "keyword.return": fg("keyword"),
        "keyword.operator": fg("keyword"),
        "conditional": fg("keyword"),
        "repeat": fg("keyword"),
        "exception": fg("keyword"),
        "include": fg("keyword"),
        "tag": fg("keyword"),
        "toml.type": fg("keyword"),
        "number": fg("number"),
        "float": fg("number"),
        "toml.datetime": fg("number"),
        "css.property": fg("number"),
        "function": fg("function"),
        "function.call": fg("function"),
        "method": fg("function"),
        "method.call": fg("function"),
        "class": fg("type", bold=True),
        "type": fg("type"),
        "type.class": fg("type"),
        "type.builtin": fg("type"),
        "boolean": fg("constant"),
        "constant.builtin": fg("constant"),
        "json.null": fg("constant"),
        "variable.builtin": fg("constant", italic=True),
        "operator": fg("operator"),
        "punctuation.bracket": fg("operator"),
        "punctuation.delimiter": fg("operator"),
        "punctuation.special": fg("operator"),
        "yaml.field": fg("function", bold=True),
        "json.label": fg("function", bold=True),
        "heading": Style(color=primary.rich_color, bold=True),
        "heading.marker": Style(color=muted.rich_color),
        "list.marker": Style(color=muted.rich_color),
        "link.label": Style(color=accent.rich_color),
        "link.uri": Style(color=secondary.rich_color, underline=True),
        "html.end_tag_error": Style(color=error.rich_color, underline=True),
        "bold": Style(bold=True),
        "italic": Style(italic=True),
        "strikethrough": Style(strike=True),
    }
    selection = background.blend(primary, 0.35)
    return TextAreaTheme(
        name=f"oi-{app_theme.name}",
        base_style=Style(color=foreground.rich_color, bgcolor=background.rich_color),
        gutter_style=Style(color=muted.rich_color, bgcolor=background.rich_color),
        cursor_style=Style(color=background.rich_color, bgcolor=foreground.rich_color),
        cursor_line_style=Style(bgcolor=faint.rich_color),
        cursor_line_gutter_style=Style(color=foreground.rich_color, bgcolor=faint.rich_color),
        bracket_matching_style=Style(bgcolor=background.blend(primary, 0.25).rich_color, bold=True),
        selection_style=Style(bgcolor=selection.rich_color),
        syntax_styles=syntax_styles,
    )


def apply_text_area_theme(text_area: TextArea, app_theme: Theme) -> None:
    """Give `text_area` the editor colours derived from `app_theme` (call again whenever the theme changes)."""
    editor_theme = text_area_theme_for(app_theme)
    text_area.register_theme(editor_theme)
    text_area.theme = editor_theme.name


# ------------------------------------------------------------------ wiring into an app


PIN_ENV = "OI_TUI_THEME"
"""Environment variable that pins a theme for one run (tests, demos); a pinned theme is not saved."""


def choose_theme(app: App[Any], default: str = DEFAULT_THEME, *, pinned: str | None = None) -> list[str]:
    """Register every theme file and switch to the saved (or pinned) theme; readable problems are returned.

    Safe in the app's `__init__`: choosing there, before any stylesheet is parsed, spares the first frame a
    second full CSS pass. `pinned` (default: the OI_TUI_THEME environment variable) selects a theme for this
    run only: the saved choice is neither read nor overwritten.
    """
    themes, problems = load_themes()
    for theme in themes:
        app.register_theme(theme)

    pinned = pinned if pinned is not None else (os.environ.get(PIN_ENV) or None)
    if pinned is not None:
        if pinned in app.available_themes:
            app.theme = pinned
        else:
            problems.append(f"Theme {pinned!r} ({PIN_ENV}) is not available; using {default!r}.")
            app.theme = default if default in app.available_themes else FALLBACK_THEME
        return problems

    saved = saved_theme()
    wanted = saved or default
    if wanted not in app.available_themes:
        fallback = default if default in app.available_themes else FALLBACK_THEME
        if saved is not None:
            problems.append(f"Saved theme {wanted!r} is not available; using {fallback!r}.")
        else:
            problems.append(f"Theme {wanted!r} is not available; using {fallback!r}.")
        wanted = fallback
    app.theme = wanted
    return problems


def remember_theme_changes(app: App[Any], problems: Iterable[str] = (), *, pinned: str | None = None) -> None:
    """Tell `problems` (what `choose_theme` returned) and, from now on, save each theme the user picks (not for
    a pinned run). Call once the app runs."""
    for problem in problems:
        app.notify(problem, title="Themes", severity="warning", timeout=8)
    pinned = pinned if pinned is not None else (os.environ.get(PIN_ENV) or None)
    if pinned is not None:
        return
    # Applying the chosen theme publishes on theme_changed_signal a moment later; that echo is not a choice.
    shown = [app.theme]

    def remember(theme: Theme) -> None:
        if theme.name == shown[0]:
            return
        shown[0] = theme.name
        try:
            save_theme(theme.name)
        except OSError as exc:
            app.notify(f"Could not save the theme choice: {exc}", severity="warning")

    app.theme_changed_signal.subscribe(app, remember)


__all__ = [
    "DEFAULT_THEME",
    "PIN_ENV",
    "ThemeFileError",
    "apply_text_area_theme",
    "choose_theme",
    "load_theme_file",
    "load_themes",
    "remember_theme_changes",
    "save_theme",
    "saved_theme",
    "text_area_theme_for",
    "theme_dirs",
    "theme_from_data",
    "themes_dir",
    "ui_state_path",
    "user_themes_dir",
]
