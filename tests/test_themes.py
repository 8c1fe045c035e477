"""Theme files -> Textual themes, persistence of the choice, editor colours, and how each theme looks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.theme import Theme
from textual.widgets import Button, Footer, Input, Static, TextArea

from oi_tui import themes

OUR_THEMES = sorted(path.stem for path in themes.themes_dir().glob("*.yaml"))


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user config folder per test (user themes, ui.json)."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def write_user_theme(name: str, text: str) -> Path:
    folder = themes.user_themes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ loading


def test_shipped_themes_load_without_problems() -> None:
    loaded, problems = themes.load_themes()
    assert problems == []
    by_name = {theme.name: theme for theme in loaded}
    assert {"oi-night", "oi-paper"} <= set(by_name)
    assert set(OUR_THEMES) == set(by_name)
    assert by_name["oi-night"].dark is True
    assert by_name["oi-paper"].dark is False
    for theme in loaded:
        assert isinstance(theme, Theme)
        theme.to_color_system().generate()  # usable by Textual


def test_user_folder_is_searched_and_wins_on_same_name() -> None:
    write_user_theme("mine.yml", "name: oi-night\ndark: true\ncolors:\n  primary: '#ff0000'\n")
    loaded, problems = themes.load_themes()
    assert problems == []
    night = next(theme for theme in loaded if theme.name == "oi-night")
    assert night.primary == "#FF0000"
    assert themes.user_themes_dir() in themes.theme_dirs()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: bad\ncolors:\n  primary: not-a-colour\n", "colors.primary is not a colour"),
        ("name: bad\ncolors: {primary: '#123456', background: 12}\n", "colors.background must be a colour"),
        ("name: bad\ncolors:\n  primary: '#123456'\n  surface: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("name: bad\ndark: yes-please\ncolors: {primary: red}\n", "`dark` must be true or false"),
        ("name: bad\ncolors: {secondary: red}\n", "`colors.primary` is required"),
        ("name: has space\ncolors: {primary: red}\n", "`name` must be"),
        ("name: bad\ncolors: {primary: red}\nsyntax: {keyword: nope}\n", "syntax.keyword is not a colour"),
    ],
)
def test_broken_theme_file_is_skipped_and_reported(text: str, reason: str) -> None:
    path = write_user_theme("broken.yaml", text)
    loaded, problems = themes.load_themes()
    assert "bad" not in {theme.name for theme in loaded}
    assert {"oi-night", "oi-paper"} <= {theme.name for theme in loaded}  # the others still load
    assert len(problems) == 1
    assert str(path) in problems[0] and "skipped" in problems[0]
    assert reason in problems[0]


def test_unknown_keys_are_warned_about_but_the_theme_loads() -> None:
    write_user_theme("extra.yaml", "name: extra\ncolors: {primary: red, sparkle: blue}\nfont: comic\n")
    loaded, problems = themes.load_themes()
    assert "extra" in {theme.name for theme in loaded}
    assert any("'sparkle'" in problem for problem in problems)
    assert any("'font'" in problem for problem in problems)


def test_syntax_colours_and_variables_travel_with_the_theme() -> None:
    theme, warnings = themes.theme_from_data(
        {"name": "t", "colors": {"primary": "red"}, "syntax": {"keyword": "#00ff00"}, "variables": {"x": "1"}}
    )
    assert warnings == []
    assert theme.variables["oi-syntax-keyword"] == "#00FF00"
    assert theme.variables["x"] == "1"
    editor = themes.text_area_theme_for(theme)
    assert editor.syntax_styles["keyword"].color.name.lower() == "#00ff00"


# ------------------------------------------------------------------ persistence


def test_theme_choice_round_trip() -> None:
    assert themes.saved_theme() is None
    themes.save_theme("oi-paper")
    assert themes.saved_theme() == "oi-paper"
    themes.save_theme("oi-night")
    assert themes.saved_theme() == "oi-night"
    path = themes.ui_state_path()
    assert path.name == "ui.json" and path.parent.name == "oi-tui"
    assert json.loads(path.read_text())["theme"] == "oi-night"
    assert [p.name for p in path.parent.iterdir()] == ["ui.json"]  # no temporary files left behind


def test_saving_keeps_other_ui_state_and_survives_a_corrupt_file() -> None:
    path = themes.ui_state_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert themes.saved_theme() is None
    themes.save_theme("oi-paper")
    state = json.loads(path.read_text())
    state["layout"] = "wide"
    path.write_text(json.dumps(state))
    themes.save_theme("oi-night")
    assert json.loads(path.read_text()) == {"layout": "wide", "theme": "oi-night"}


# ------------------------------------------------------------------ the code editor


def test_editor_colours_differ_between_dark_and_light() -> None:
    loaded = {theme.name: theme for theme in themes.load_themes()[0]}
    night = themes.text_area_theme_for(loaded["oi-night"])
    paper = themes.text_area_theme_for(loaded["oi-paper"])
    assert night.name == "oi-oi-night" and paper.name == "oi-oi-paper"
    assert night.base_style.bgcolor != paper.base_style.bgcolor
    assert night.base_style.color != paper.base_style.color
    for token in ("keyword", "string", "comment", "number", "function"):
        assert night.syntax_styles[token] != paper.syntax_styles[token], token
    # dark background, light text; and the other way round
    assert night.base_style.bgcolor.triplet.red < 80 < night.base_style.color.triplet.red
    assert paper.base_style.bgcolor.triplet.red > 200 > paper.base_style.color.triplet.red


def test_editor_theme_can_be_derived_from_every_builtin_theme() -> None:
    from textual.theme import BUILTIN_THEMES

    for theme in BUILTIN_THEMES.values():
        editor = themes.text_area_theme_for(theme)
        assert editor.syntax_styles["keyword"].color is not None


# ------------------------------------------------------------------ wiring into an app


class ThemedApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        yield TextArea("x = 1\n", language="python", id="editor")

    def on_mount(self) -> None:
        self.problems = themes.choose_theme(self)  # what OiApp does in __init__ and on_mount
        themes.remember_theme_changes(self, self.problems)
        themes.apply_text_area_theme(self.query_one(TextArea), self.current_theme)


async def test_install_themes_defaults_to_oi_night_and_remembers_changes() -> None:
    app = ThemedApp()
    async with app.run_test() as pilot:
        assert app.theme == "oi-night"
        assert app.problems == []
        assert set(OUR_THEMES) <= set(app.available_themes)
        assert themes.saved_theme() is None  # nothing chosen yet, nothing written
        app.theme = "oi-paper"
        await pilot.pause()
        assert themes.saved_theme() == "oi-paper"
        assert app.query_one(TextArea).theme == "oi-oi-night"


async def test_install_themes_applies_the_saved_theme() -> None:
    themes.save_theme("oi-paper")
    app = ThemedApp()
    async with app.run_test():
        assert app.theme == "oi-paper"
        assert app.query_one(TextArea).theme == "oi-oi-paper"


async def test_unknown_saved_theme_falls_back_with_a_message() -> None:
    themes.save_theme("gone-theme")
    write_user_theme("broken.yaml", "name: broken\ncolors: {primary: nope}\n")
    app = ThemedApp()
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "oi-night"
        assert any("gone-theme" in problem and "oi-night" in problem for problem in app.problems)
        assert any("broken.yaml" in problem for problem in app.problems)
        messages = [notification.message for notification in app._notifications]
        assert any("gone-theme" in message for message in messages)


async def test_a_pinned_theme_is_used_but_not_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    themes.save_theme("oi-night")
    monkeypatch.setenv(themes.PIN_ENV, "oi-paper")
    app = ThemedApp()
    async with app.run_test() as pilot:
        assert app.theme == "oi-paper"
        app.theme = "oi-moss"
        await pilot.pause()
    assert themes.saved_theme() == "oi-night"


# ------------------------------------------------------------------ snapshots

SAMPLE_CODE = '''def greet(name: str) -> str:
    """Say hello."""
    count = 3  # a comment
    return f"hello {name}" * count
'''


class ThemeSample(App[None]):
    """A small screen using the parts of Textual oi-tui relies on, to see a theme at a glance."""

    CSS = """
    Screen { layout: vertical; }
    #title { color: $text-primary; text-style: bold; padding: 0 1; }
    #editor { height: 8; }
    Horizontal { height: auto; }
    Button { margin-right: 1; }
    .muted { color: $text-muted; padding: 0 1; }
    .error { color: $text-error; padding: 0 1; }
    .success { color: $text-success; padding: 0 1; }
    """

    def __init__(self, theme_name: str) -> None:
        super().__init__()
        self.theme_name = theme_name

    def compose(self) -> ComposeResult:
        yield Static(f"Theme {self.theme_name}", id="title")
        editor = TextArea(SAMPLE_CODE, language="python", id="editor", show_line_numbers=True)
        editor.cursor_blink = False
        yield editor
        yield Static("console output looks like this", classes="muted")
        yield Static("✓ ran in 0.2 s", classes="success")
        yield Static("✗ NameError: name 'x' is not defined", classes="error")
        with Horizontal():
            yield Button("Run", variant="primary")
            yield Button("Edit")
            yield Button("Skip", variant="error")
        yield Input(placeholder="Ask me to do something…")
        yield Footer()

    def on_mount(self) -> None:
        for theme in themes.load_themes()[0]:
            self.register_theme(theme)
        self.theme = self.theme_name
        themes.apply_text_area_theme(self.query_one(TextArea), self.current_theme)


@pytest.mark.parametrize("theme_name", OUR_THEMES)
def test_theme_snapshot(snap_compare, theme_name: str) -> None:
    assert snap_compare(ThemeSample(theme_name), terminal_size=(60, 20))


async def test_oi_tui_chooses_its_theme_before_the_first_css_pass(make_interpreter, monkeypatch) -> None:
    """Choosing the theme once the app runs costs the first frame a second full CSS pass (reparse + restyle)."""
    from oi_tui.app import OiApp

    monkeypatch.delenv("OI_TUI_THEME", raising=False)
    themes.save_theme("oi-paper")
    app = OiApp(make_interpreter())
    assert app.theme == "oi-paper"  # chosen in __init__, before Textual parses any stylesheet
    passes: list[bool] = []
    original = App.refresh_css

    def counted(self: App, animate: bool = True) -> None:
        passes.append(self.screen_stack != [] and self.screen.is_mounted)
        original(self, animate)

    monkeypatch.setattr(App, "refresh_css", counted)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "oi-paper"
        assert not any(passes), "a full CSS pass ran after the chat screen was built"
        app.theme = "oi-moss"  # a later choice is still saved
        await pilot.pause()
        assert themes.saved_theme() == "oi-moss"
