"""The command line: every documented flag and short form, precedence, one-shot commands, start-up."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oi_tui import cli

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

# (argv, dotted setting, expected value) for every documented flag, long and short
CASES = [
    (["--model", "gpt-4o-mini"], "llm.model", "gpt-4o-mini"),
    (["-m", "claude-3"], "llm.model", "claude-3"),
    (["--temperature", "0.7"], "llm.temperature", 0.7),
    (["-t", "0.2"], "llm.temperature", 0.2),
    (["--context_window", "16000"], "llm.context_window", 16000),
    (["-c", "9000"], "llm.context_window", 9000),
    (["--max_tokens", "100"], "llm.max_tokens", 100),
    (["-x", "200"], "llm.max_tokens", 200),
    (["--max_output", "1000"], "llm.max_output", 1000),
    (["-xo", "500"], "llm.max_output", 500),
    (["--api_base", "https://api.example.com"], "llm.api_base", "https://api.example.com"),
    (["-ab", "http://localhost:1/v1"], "llm.api_base", "http://localhost:1/v1"),
    (["--api_key", "k1"], "llm.api_key", "k1"),
    (["-ak", "k2"], "llm.api_key", "k2"),
    (["--api_version", "2.0.2"], "llm.api_version", "2.0.2"),
    (["-av", "1"], "llm.api_version", "1"),
    (["--llm_supports_functions"], "llm.supports_functions", True),
    (["-lsf"], "llm.supports_functions", True),
    (["--no-llm_supports_functions"], "llm.supports_functions", False),
    (["--llm_supports_vision"], "llm.supports_vision", True),
    (["-lsv"], "llm.supports_vision", True),
    (["--no-llm_supports_vision"], "llm.supports_vision", False),
    (["--custom_instructions", "Be brief."], "custom_instructions", "Be brief."),
    (["-ci", "Use R."], "custom_instructions", "Use R."),
    (["--system_message", "You are X."], "system_message", "You are X."),
    (["-s", "You are Y."], "system_message", "You are Y."),
    (["--safe_mode", "ask"], "safe_mode", "ask"),
    (["--auto_run"], "auto_run", True),
    (["-y"], "auto_run", True),
    (["--loop"], "loop", True),
    (["--verbose"], "verbose", True),
    (["-v"], "verbose", True),
    (["--max_budget", "0.01"], "max_budget", 0.01),
    (["-b", "2"], "max_budget", 2.0),
    (["--speak_messages"], "speak_messages", True),
    (["-sm"], "speak_messages", True),
    (["--multi_line"], "multi_line", True),
    (["-ml", "false"], "multi_line", False),
    (["--offline"], "offline", True),
    (["--offline", "true"], "offline", True),
    (["--disable_telemetry"], "disable_telemetry", True),
    (["--debug"], "debug", True),
    (["--vision"], "llm.supports_vision", True),
    (["-vi"], "llm.model", "gpt-4o"),
    (["--os"], "os", True),
    (["-o"], "os", True),
    (["--fast"], "llm.model", "gpt-4o-mini"),
    (["-f"], "llm.model", "gpt-4o-mini"),
    (["--local"], "llm.api_base", "http://localhost:1234/v1"),
    (["-l"], "offline", True),
]


@pytest.mark.parametrize("argv,path,expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_every_flag_parsed_and_applied(argv, path, expected):
    args = cli.build_parser().parse_args(argv)
    assert cli.settings_from_args(args)[path] == expected
    interpreter, warnings = cli.make_interpreter(args)
    assert interpreter.get_setting(path) == expected
    assert warnings == []


def test_every_documented_flag_exists():
    parser = cli.build_parser()
    options = {opt for action in parser._actions for opt in action.option_strings}
    documented = """--vision -vi --os -o --model -m --fast -f --local -l --temperature -t --context_window -c
    --max_tokens -x --max_output -xo --api_base -ab --api_key -ak --api_version -av --llm_supports_functions -lsf
    --no-llm_supports_functions --llm_supports_vision -lsv --profiles --profile -p --custom_instructions -ci
    --system_message -s --safe_mode --auto_run -y --loop --verbose -v --max_budget -b --speak_messages -sm
    --multi_line -ml --version --help -h --disable_telemetry --offline --local_models --conversations
    --plain --set-key""".split()
    assert set(documented) <= options


def test_flags_override_profile_which_overrides_defaults():
    args = cli.build_parser().parse_args(["--profile", "fast", "--temperature", "0.9"])
    interpreter, _ = cli.make_interpreter(args)
    assert interpreter.profile == "fast"
    assert interpreter.llm.model == "gpt-4o-mini"  # from the profile
    assert interpreter.llm.temperature == 0.9  # from the flag
    assert interpreter.max_budget is None  # default
    args = cli.build_parser().parse_args(["-p", "fast", "-m", "flag-model"])
    assert cli.make_interpreter(args)[0].llm.model == "flag-model"


def test_mode_flag_then_explicit_flag_wins():
    args = cli.build_parser().parse_args(["--local", "--api_base", "http://127.0.0.1:5555/v1"])
    interpreter, _ = cli.make_interpreter(args)
    assert interpreter.llm.api_base == "http://127.0.0.1:5555/v1"
    assert interpreter.offline is True


def test_default_profile_loaded_when_none_named():
    interpreter, warnings = cli.make_interpreter(cli.build_parser().parse_args([]))
    assert interpreter.profile == "default" and warnings == []
    assert interpreter.in_terminal_interface is True


def test_bad_key_in_profile_is_dropped_with_warning(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("auto_run: true\nllm:\n  temprature: 2\n")
    interpreter, warnings = cli.make_interpreter(cli.build_parser().parse_args(["--profile", str(bad)]))
    assert interpreter.profile == "bad"
    assert interpreter.auto_run is True  # the profile's valid keys are kept
    assert any("bad.yaml" in w and "line 3" in w and "llm.temprature" in w and "llm.temperature" in w for w in warnings)


def test_unusable_profile_falls_back_with_warning(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("auto_run: true\nllm: [\n")
    interpreter, warnings = cli.make_interpreter(cli.build_parser().parse_args(["--profile", str(bad), "-y"]))
    assert interpreter.profile == "default"
    assert interpreter.auto_run is True  # flags still apply
    assert any("bad.yaml" in w and "invalid YAML" in w for w in warnings)
    assert any("default profile" in w for w in warnings)


def test_unusable_local_profile_stops_instead_of_going_hosted(tmp_path):
    from oi_core.profiles import ProfileError

    bad = tmp_path / "mine.yaml"
    bad.write_bytes(b"offline: true\nllm:\n  model: ollama/llama3\n  api_base: http://localhost:11434\n  x: \xff\n")
    with pytest.raises(ProfileError) as info:
        cli.make_interpreter(cli.build_parser().parse_args(["--profile", str(bad)]))
    assert "not UTF-8" in info.value.message and "does not fall back to a hosted model" in info.value.message
    # the real command says so in one line and stops, with no traceback and nothing sent anywhere
    result = _run("--plain", "--profile", str(bad), stdin="hello\n")
    assert result.returncode == 2, result
    assert "does not fall back to a hosted model" in result.stderr and "Traceback" not in result.stderr


def test_invalid_flag_values_rejected(capsys):
    parser = cli.build_parser()
    for argv in (["--safe_mode", "sometimes"], ["--temperature", "hot"], ["-y", "maybe"], ["--nonsense"]):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        assert info.value.code == 2


def test_tui_started_with_conversations_and_warnings(monkeypatch, tmp_path):
    started = {}

    class FakeApp:
        return_code = 0

        def __init__(self, interpreter, *, start_in_conversations=False, startup_warnings=(), on_ready=None):
            started.update(interpreter=interpreter, conversations=start_in_conversations, warnings=list(startup_warnings),
                           on_ready=on_ready)

        def run(self):
            started["ran"] = True

    import types

    fake = types.ModuleType("oi_tui.app")
    fake.OiApp = FakeApp
    monkeypatch.setitem(sys.modules, "oi_tui.app", fake)
    bad = tmp_path / "broken.yaml"
    bad.write_text("llm: [\n")
    assert cli.main(["--conversations", "-m", "mymodel", "--profile", str(bad)]) == 0
    assert started["ran"] and started["conversations"] is True
    assert started["interpreter"].llm.model == "mymodel"
    assert any("invalid YAML" in w for w in started["warnings"])
    assert started["on_ready"] is None  # a hosted model: nothing local to check at start


def _run(*argv, stdin="", env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([PY, "-m", "oi_tui.cli", *argv], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def test_version_and_help_are_instant_and_light():
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.startswith("oi-tui ")
    code = ("import sys, oi_tui.cli as c\n"
            "p = c.build_parser()\n"
            "assert 'textual' not in sys.modules and 'litellm' not in sys.modules, sorted(sys.modules)\n")
    assert subprocess.run([PY, "-c", code], cwd=ROOT, timeout=30).returncode == 0
    result = _run("--help")
    assert result.returncode == 0
    for title in ("modes:", "model settings:", "configuration:", "options:", "-xo CHARS, --max_output CHARS", "--plain"):
        assert title in result.stdout


def test_profiles_prints_folder_and_list():
    result = _run("--profiles")
    assert result.returncode == 0
    folder = result.stdout.splitlines()[0]
    assert folder.startswith(os.environ["XDG_CONFIG_HOME"]) and Path(folder, "default.yaml").is_file()
    assert "fast" in result.stdout and "local" in result.stdout


def test_local_models_prints_folder():
    result = _run("--local_models")
    assert result.returncode == 0 and os.environ["XDG_DATA_HOME"] in result.stdout


def test_set_key_stores_in_keyring():
    from oi_core import secrets

    try:
        result = _run("--set-key", "anthropic", stdin="sk-ant-from-cli-123456\n")
        assert result.returncode == 0, result.stderr
        assert "sk-ant-from-cli-123456" not in result.stdout
        assert "keyring" in result.stdout
        assert secrets.stored_api_key("anthropic") == "sk-ant-from-cli-123456"
        empty = _run("--set-key", "anthropic", stdin="\n")
        assert empty.returncode == 1 and "empty" in empty.stderr
    finally:
        secrets.delete_api_key("anthropic")


def test_set_key_in_process(monkeypatch, capsys):
    from oi_core import secrets

    monkeypatch.setattr(sys, "stdin", io.StringIO("gsk-in-process-9876543\n"))
    try:
        assert cli.main(["--set-key", "groq"]) == 0
        assert secrets.stored_api_key("groq") == "gsk-in-process-9876543"
        assert "gsk-in-process-9876543" not in capsys.readouterr().out
    finally:
        secrets.delete_api_key("groq")


def test_set_key_without_a_keyring_fails_and_says_what_to_install():
    from oi_core import secrets

    result = _run("--set-key", "openai", stdin="sk-never-kept-0123456789\n",
                  env_extra={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "cannot store the openai API key" in line and "keyrings.alt" in line and "OPENAI_API_KEY" in line
    assert "sk-never-kept" not in result.stderr
    assert secrets.stored_api_key("openai") is None


def test_set_key_rejects_unknown_providers_with_the_known_ones():
    result = _run("--set-key", "opneai", stdin="sk-whatever-0123456789\n")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "Unknown provider 'opneai'" in line and "Did you mean 'openai'?" in line
    assert "anthropic" in line and "groq" in line and "mistral" in line
