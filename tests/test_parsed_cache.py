"""The parsed-YAML cache: a launch reads JSON instead of importing PyYAML, and never sees a stale or altered value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oi_core import parsed_cache
from oi_core.profiles import ProfileError, load_profile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setattr(parsed_cache, "cache_dir", lambda: folder)
    return folder


def settled(path: Path, text: str) -> Path:
    """Write `text` and wait until the file counts as settled (cached files are never fresh edits)."""
    path.write_text(text)
    time.sleep(parsed_cache.SETTLE_SECONDS + 0.05)
    return path


class Parser:
    def __init__(self, result=None) -> None:
        self.calls = 0
        self.result = result

    def __call__(self, path: Path):
        self.calls += 1
        return self.result if self.result is not None else {"text": path.read_text()}


def test_an_unchanged_file_is_parsed_once_and_its_value_comes_back_exactly(cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parsed_cache, "SETTLE_SECONDS", 0.0)
    file = tmp_path / "a.yaml"
    file.write_text("x")
    value = {"data": {"b": [1, 2.5, True, None, "é"]}, "lines": {"b": 3}}
    parse = Parser(value)
    assert parsed_cache.load(file, "profile", parse) == value
    assert parsed_cache.load(file, "profile", parse) == value
    assert parse.calls == 1
    assert type(parsed_cache.load(file, "profile", parse)["data"]["b"][2]) is bool


def test_an_edited_file_is_parsed_again(cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parsed_cache, "SETTLE_SECONDS", 0.0)
    file = tmp_path / "a.yaml"
    file.write_text("one")
    parse = Parser()
    assert parsed_cache.load(file, "theme", parse) == {"text": "one"}
    file.write_text("two")  # same size, possibly the same time tick: the inode and change time still differ
    os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 1_000_000_000))
    assert parsed_cache.load(file, "theme", parse) == {"text": "two"}
    assert parse.calls == 2


def test_a_file_changed_moments_ago_is_not_cached(cache, tmp_path) -> None:
    """File times tick coarsely: two same-size edits in one tick would look alike to the cache."""
    file = tmp_path / "a.yaml"
    file.write_text("one")
    parse = Parser()
    parsed_cache.load(file, "theme", parse)
    parsed_cache.load(file, "theme", parse)
    assert parse.calls == 2
    assert not cache.exists() or not list(cache.iterdir())


@pytest.mark.parametrize("value", [
    {1: "an int key"},
    {"when": __import__("datetime").date(2026, 1, 2)},
    {"pair": (1, 2)},
    {"x": float("nan")},
    {"s": {1, 2}},
])
def test_values_json_would_change_are_not_cached(cache, tmp_path, monkeypatch, value) -> None:
    monkeypatch.setattr(parsed_cache, "SETTLE_SECONDS", 0.0)
    file = tmp_path / "a.yaml"
    file.write_text("x")
    parse = Parser(value)
    parsed_cache.load(file, "theme", parse)
    parsed_cache.load(file, "theme", parse)
    assert parse.calls == 2


def test_a_damaged_or_foreign_entry_means_a_parse(cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parsed_cache, "SETTLE_SECONDS", 0.0)
    file = tmp_path / "a.yaml"
    file.write_text("x")
    parse = Parser({"v": 1})
    parsed_cache.load(file, "theme", parse)
    (entry,) = cache.iterdir()
    for damage in (b"{not json", b"[]", json.dumps({"key": "other", "value": 2}).encode()):
        entry.write_bytes(damage)
        assert parsed_cache.load(file, "theme", parse) == {"v": 1}
    assert parse.calls == 4


def test_an_unwritable_cache_only_costs_a_parse(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(parsed_cache, "cache_dir", lambda: blocker / "parsed")
    monkeypatch.setattr(parsed_cache, "SETTLE_SECONDS", 0.0)
    file = tmp_path / "a.yaml"
    file.write_text("x")
    assert parsed_cache.load(file, "theme", Parser({"v": 1})) == {"v": 1}


def test_parse_errors_pass_through_and_are_not_cached(cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parsed_cache, "SETTLE_SECONDS", 0.0)
    file = tmp_path / "bad.yaml"
    file.write_text("llm: [unclosed\n")
    for _ in range(2):
        with pytest.raises(ProfileError, match="line 2: invalid YAML"):
            load_profile(file)
    assert not cache.exists() or not list(cache.iterdir())


def test_a_cached_profile_loads_exactly_as_a_parsed_one(cache, tmp_path) -> None:
    """Warnings keep their line numbers: the cache holds the key lines with the data."""
    file = settled(tmp_path / "p.yaml", "llm:\n  model: gpt-4o\n  temprature: 0.2\nauto_run: false\n")
    first = load_profile(file)
    assert list(cache.iterdir()), "a settled profile is cached"
    second = load_profile(file)
    assert (second.settings, second.warnings) == (first.settings, first.warnings)
    assert any("line 3" in warning for warning in second.warnings), second.warnings


def test_a_launch_with_a_warm_cache_does_not_import_yaml(tmp_path) -> None:
    """PyYAML's import is ~11-25 ms of the first frame: the profile and theme files come from the cache, and the
    keymap module imports it only when there is a keymap file."""
    probe = (
        "import asyncio, sys\n"
        "from oi_tui.cli import build_parser, make_interpreter\n"
        "from oi_tui.app import OiApp\n"
        "interpreter, _ = make_interpreter(build_parser().parse_args(['--model', 'openai/x', '--api_key', 'k']))\n"
        "app = OiApp(interpreter)\n"
        "async def mounted():\n"  # on_mount runs too: it looks for the user's keymap file
        "    async with app.run_test(size=(120, 40)) as pilot:\n"
        "        await pilot.pause()\n"
        "        return 'yaml' in sys.modules\n"
        "print(asyncio.run(mounted()), app.theme)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("OI_TUI_THEME", None)
    seen = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        seen.append(out.stdout.split())
        time.sleep(parsed_cache.SETTLE_SECONDS + 0.05)  # the first launch wrote the user's default profile
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    seen.append(out.stdout.split())
    assert seen[0] == ["True", "oi-night"], "the first launch parses"
    assert seen[2] == ["False", "oi-night"], f"a warm launch still imported yaml: {seen}"
