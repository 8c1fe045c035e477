"""The user's keymap file: parsing, clear problems, and applying it to an app."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from oi_tui.keymap import keymap_path, load_keymap, parse_keymap


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def write_keymap(text: str) -> Path:
    path = keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_location_is_the_user_config_folder(config_home: Path) -> None:
    assert keymap_path() == config_home / "oi-tui" / "keymap.yaml"


def test_no_file_means_no_overrides() -> None:
    assert load_keymap() == ({}, [])


def test_empty_file_means_no_overrides() -> None:
    write_keymap("# nothing yet\n")
    assert load_keymap() == ({}, [])


def test_strings_lists_and_comma_separated_keys() -> None:
    write_keymap("send: ctrl+j\nstop: escape, ctrl+c\nnew_conversation: [ctrl+n, f2]\nchat.quit: q\n")
    keymap, problems = load_keymap()
    assert problems == []
    assert keymap == {"send": "ctrl+j", "stop": "escape,ctrl+c", "new_conversation": "ctrl+n,f2", "chat.quit": "q"}


def test_invalid_yaml_is_reported_with_its_line() -> None:
    path = write_keymap("send: ctrl+j\nstop: [escape\n")
    keymap, problems = load_keymap()
    assert keymap == {}
    assert len(problems) == 1
    assert str(path) in problems[0] and "not valid YAML" in problems[0] and "line" in problems[0]


def test_a_list_at_the_top_is_reported() -> None:
    write_keymap("- send\n- stop\n")
    keymap, problems = load_keymap()
    assert keymap == {} and "expected a mapping" in problems[0]


def test_bad_entries_are_dropped_and_the_rest_applies() -> None:
    keymap, problems = parse_keymap(
        {"send": "ctrl+j", "stop": 5, "run": "", "edit": "ctrl + e", "7up": "x", "skip": ["s", 3]},
        source="k.yaml",
    )
    assert keymap == {"send": "ctrl+j"}
    joined = "\n".join(problems)
    assert "stop: expected a key" in joined
    assert "run: no key given" in joined
    assert "edit: 'ctrl + e' is not a key name" in joined
    assert "'7up' is not a binding id" in joined
    assert "skip: expected a key" in joined
    assert all(problem.startswith("k.yaml: ") for problem in problems)


def test_unknown_binding_ids_are_reported_when_the_ids_are_known() -> None:
    write_keymap("send: ctrl+j\nsned: ctrl+k\n")
    keymap, problems = load_keymap(known_ids={"send", "stop"})
    assert keymap == {"send": "ctrl+j"}
    assert problems and "no binding has the id 'sned'" in problems[0]


class KeyedApp(App[None]):
    BINDINGS = [Binding("ctrl+g", "greet", "Greet", id="greet")]

    def __init__(self) -> None:
        super().__init__()
        self.greeted = 0

    def compose(self) -> ComposeResult:
        yield Static("keys")

    def action_greet(self) -> None:
        self.greeted += 1


async def test_the_keymap_rebinds_an_app_binding() -> None:
    write_keymap("greet: f5\n")
    app = KeyedApp()
    async with app.run_test() as pilot:
        keymap, problems = load_keymap(known_ids={"greet"})
        assert problems == []
        app.set_keymap(keymap)
        await pilot.press("ctrl+g")
        assert app.greeted == 0
        await pilot.press("f5")
        assert app.greeted == 1


def test_every_binding_in_oi_tui_has_an_id() -> None:
    """A keymap can only override a binding that has an id."""
    import importlib
    import pkgutil

    import oi_tui
    from textual.binding import Binding

    missing = []
    for info in pkgutil.walk_packages(oi_tui.__path__, "oi_tui."):
        module = importlib.import_module(info.name)
        for owner in vars(module).values():
            if isinstance(owner, type) and owner.__module__ == module.__name__:
                for binding in owner.__dict__.get("BINDINGS", ()):
                    if not (isinstance(binding, Binding) and binding.id):
                        missing.append(f"{owner.__qualname__}: {binding!r}")
    assert not missing
