"""Profiles: every documented shape, validation errors with file/line/key, fallback, live switching."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from oi_core import profiles
from oi_core.events import SettingsApplied
from oi_core.profiles import ProfileError, apply_profile, list_profiles, load_profile, profile_dir


def write(name: str, text: str) -> Path:
    path = profile_dir() / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_profile_dir():
    folder = profile_dir()
    keep = {"default.yaml"}
    yield
    for path in folder.iterdir():
        if path.name not in keep:
            path.unlink()


def test_profile_dir_created_with_editable_default():
    folder = profile_dir()
    assert folder.is_dir()
    assert str(folder).startswith(str(Path(__import__("os").environ["XDG_CONFIG_HOME"])))
    default = folder / "default.yaml"
    assert default.is_file()
    assert "llm:" in default.read_text()
    assert load_profile("default").settings["llm.model"] == "gpt-4o"


def test_shipped_profiles_all_load():
    names = {info.name for info in list_profiles()}
    assert {"default", "fast", "local", "ollama", "vision", "os"} <= names
    for name in ("fast", "local", "ollama", "vision", "os"):
        result = load_profile(name)
        assert result.settings, name
        assert "llm.api_key" not in result.settings  # shipped profiles carry no keys
    assert load_profile("local").settings["llm.api_base"].startswith("http://localhost")
    assert load_profile("os").settings["os"] is True
    assert load_profile("vision").settings["llm.supports_vision"] is True


def test_nested_shape():
    write("nested.yaml", "llm:\n  model: gpt-4o-mini\n  temperature: 0.3\ncomputer:\n  import_computer_api: true\nauto_run: true\nversion: 0.2.5\n")
    result = load_profile("nested")
    assert result.settings == {
        "llm.model": "gpt-4o-mini",
        "llm.temperature": 0.3,
        "computer.import_computer_api": True,
        "auto_run": True,
    }
    assert result.version == "0.2.5"


def test_dotted_shape():
    write("dotted.yaml", 'custom_instructions: "Always use python"\nllm.model: gpt-4\nllm.temperature: 0.5\ncomputer.emit_images: false\n')
    result = load_profile("dotted.yaml")
    assert result.settings["llm.model"] == "gpt-4"
    assert result.settings["llm.temperature"] == 0.5
    assert result.settings["computer.emit_images"] is False
    assert result.settings["custom_instructions"] == "Always use python"


def test_flat_legacy_shape():
    write("flat.yaml", "model: claude-3\ntemperature: 1\nllm_supports_vision: true\nllm_api_base: http://x/v1\n"
          "context_window: 9000\nmax_tokens: 100\nllm_max_budget: 0.5\nfunction_calling_llm: false\n")
    settings = load_profile("flat").settings
    assert settings["llm.model"] == "claude-3"
    assert settings["llm.temperature"] == 1.0
    assert settings["llm.supports_vision"] is True
    assert settings["llm.api_base"] == "http://x/v1"
    assert settings["llm.context_window"] == 9000
    assert settings["llm.max_tokens"] == 100
    assert settings["max_budget"] == 0.5
    assert settings["llm.supports_functions"] is False


def test_documented_vision_profile_with_instructions_under_llm():
    write("vis.yaml", "loop: True\nllm:\n  model: \"gpt-4o\"\n  temperature: 0\n  supports_vision: True\n"
          "  custom_instructions: >\n    You can see.\n")
    settings = load_profile("vis").settings
    assert settings["loop"] is True
    assert settings["custom_instructions"].strip() == "You can see."


def test_mode_keys_expand_and_explicit_settings_win():
    write("modes.yaml", "local: true\nllm:\n  api_base: http://127.0.0.1:9999/v1\n")
    settings = load_profile("modes").settings
    assert settings["offline"] is True
    assert settings["llm.api_base"] == "http://127.0.0.1:9999/v1"
    write("fastmode.yaml", "fast: true\n")
    assert load_profile("fastmode").settings["llm.model"] == "gpt-4o-mini"


def test_empty_profile_is_fine():
    write("empty.yaml", "# nothing\n")
    assert load_profile("empty").settings == {}


def test_unknown_key_is_dropped_with_a_warning_naming_file_line_and_closest_key():
    path = write("bad.yaml", "llm:\n  model: gpt-4o\n  temprature: 0.2\nauto_run: true\n")
    result = load_profile("bad")
    assert result.settings == {"llm.model": "gpt-4o", "auto_run": True}  # the valid keys are kept
    [warning] = result.warnings
    assert str(path) in warning
    assert "line 3" in warning
    assert "llm.temprature" in warning
    assert "did you mean 'llm.temperature'" in warning


def test_wrong_type_is_dropped_with_a_warning_naming_file_line_and_key():
    path = write("badtype.yaml", "auto_run: true\nllm.context_window: lots\n")
    result = load_profile("badtype")
    assert result.settings == {"auto_run": True}
    [warning] = result.warnings
    assert str(path) in warning and "line 2" in warning and "llm.context_window" in warning


def test_an_unusable_model_or_endpoint_setting_rejects_the_whole_profile():
    write("badmodel.yaml", "offline: true\nllm:\n  model: [llama3]\n  api_base: http://localhost:11434\n")
    with pytest.raises(ProfileError, match="decides where your messages are sent"):
        load_profile("badmodel")
    write("typomodel.yaml", "offline: true\nllm:\n  modle: ollama/llama3\n")
    with pytest.raises(ProfileError, match="did you mean 'llm.model'"):
        load_profile("typomodel")


def test_invalid_yaml_names_file_and_line():
    path = write("broken.yaml", "llm:\n  model: gpt-4o\n temperature: [0.2\n")
    with pytest.raises(ProfileError) as info:
        load_profile("broken")
    assert str(path) in info.value.message
    assert "line " in info.value.message
    assert "invalid YAML" in info.value.message


def test_not_a_mapping():
    write("list.yaml", "- a\n- b\n")
    with pytest.raises(ProfileError, match="mapping"):
        load_profile("list")


def test_missing_profile_lists_available():
    with pytest.raises(ProfileError) as info:
        load_profile("nope")
    assert "nope" in info.value.message and "fast" in info.value.message


def test_a_profile_with_one_mistyped_key_is_kept(make_interpreter):
    write("mylocal.yaml", "offline: true\nllm:\n  model: openai/qwen\n  api_base: http://localhost:1234/v1\n"
          "  temprature: 0.3\nauto_run: false\n")
    interp = make_interpreter()
    messages = apply_profile(interp, "mylocal")
    assert interp.profile == "mylocal"
    assert (interp.llm.model, interp.llm.api_base, interp.offline) == ("openai/qwen", "http://localhost:1234/v1", True)
    [warning] = messages
    assert "mylocal.yaml" in warning and "line 5" in warning and "did you mean 'llm.temperature'" in warning


def test_bad_profile_falls_back_to_default_and_says_so(make_interpreter):
    write("bad.yaml", "llm: [\n")
    interp = make_interpreter()
    messages = apply_profile(interp, "bad")
    assert interp.profile == "default"
    assert interp.llm.model == "gpt-4o"
    text = " ".join(messages)
    assert "bad.yaml" in text and "invalid YAML" in text and "default profile" in text


@pytest.mark.parametrize("text", [
    "offline: true\nllm:\n  model: ollama/llama3\n  temperature: [\n",  # broken YAML
    "local: maybe\n",  # an unusable routing value
    "llm:\n  api_base: http://127.0.0.1:8080/v1\n  modle: y\n",  # a misspelt model key, and no model
], ids=["broken-yaml", "bad-local-value", "misspelt-model"])
def test_a_local_profile_that_cannot_be_used_never_falls_back_to_a_hosted_model(make_interpreter, text):
    write("workstation.yaml", text)
    interp = make_interpreter()
    before = (interp.llm.model, interp.llm.api_base, interp.offline, interp.profile)
    with pytest.raises(ProfileError) as info:
        apply_profile(interp, "workstation")
    assert "workstation.yaml" in info.value.message and "does not fall back to a hosted model" in info.value.message
    assert (interp.llm.model, interp.llm.api_base, interp.offline, interp.profile) == before  # nothing changed
    # a model chosen on the command line decides the route anyway: then the default profile is fine
    messages = apply_profile(interp, "workstation", overrides={"llm.model": "openai/flag", "llm.api_base": "http://x/v1"})
    assert interp.llm.model == "openai/flag" and any("default profile" in m for m in messages)


def test_a_broken_local_default_profile_stops_instead_of_going_hosted(make_interpreter):
    default = profile_dir() / "default.yaml"
    saved = default.read_text()
    try:
        default.write_bytes(b"llm:\n  model: ollama/llama3\n  api_base: http://localhost:11434\noffline: true\n\xff\n")
        with pytest.raises(ProfileError, match="not UTF-8"):
            apply_profile(make_interpreter(), None)
    finally:
        default.write_text(saved)


@pytest.mark.parametrize("content,expected", [
    (b"llm:\n  model: gpt-4o\n  temperature: \xe9t\xe9\n", "line 3: not UTF-8 text (byte 0xe9)"),
    (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nest"),
    (b"llm:\n" + b"x" * (2 * 1024 * 1024), "larger than 1024 KiB"),
], ids=["not-utf8", "nested", "huge"])
def test_unreadable_profiles_are_one_clear_message_quickly(content, expected):
    (profile_dir() / "odd.yaml").write_bytes(content)
    started = time.perf_counter()
    with pytest.raises(ProfileError) as info:
        load_profile("odd")
    assert time.perf_counter() - started < 5
    assert expected in info.value.message and "odd.yaml" in info.value.message
    assert len(info.value.message) < 400


def test_billion_laughs_into_a_text_setting_is_refused_quickly():
    levels = ["a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]"]
    for n in range(1, 10):
        previous = chr(ord("a") + n - 1)
        name = chr(ord("a") + n)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    text = "\n".join(levels) + "\ncustom_instructions: *j\nloop_breakers: *j\nauto_run: true\n"
    write("laughs.yaml", text)
    started = time.perf_counter()
    result = load_profile("laughs")
    assert time.perf_counter() - started < 5
    assert result.settings == {"auto_run": True}
    joined = " ".join(result.warnings)
    assert "custom_instructions" in joined and "YAML aliases" in joined
    assert sum(len(w) for w in result.warnings) < 3000


def test_mapping_aliases_cannot_slow_down_line_numbers():
    levels = ["m0: &m0 {x: 1, y: 2}"]
    for n in range(1, 25):
        levels.append(f"m{n}: &m{n} {{a: *m{n - 1}, b: *m{n - 1}, c: *m{n - 1}}}")
    write("maps.yaml", "\n".join(levels) + "\nllm:\n  model: gpt-4o\n")
    started = time.perf_counter()
    result = load_profile("maps")
    assert time.perf_counter() - started < 5
    assert result.settings == {"llm.model": "gpt-4o"}


def test_broken_default_falls_back_to_builtin(make_interpreter):
    default = profile_dir() / "default.yaml"
    saved = default.read_text()
    try:
        default.write_text("auto_run: [maybe\n")
        interp = make_interpreter()
        messages = apply_profile(interp, None)
        assert any("default.yaml" in m and "invalid YAML" in m for m in messages)
        assert any("built-in default" in m for m in messages)
        assert interp.profile == "default"
    finally:
        default.write_text(saved)


def test_python_profile_from_user_dir(make_interpreter):
    write("mine.py", "from interpreter import interpreter\ninterpreter.llm.model = 'gpt-4o'\n"
          "interpreter.llm.context_window = 110000\ninterpreter.auto_run = True\ninterpreter.loop = True\n")
    result = load_profile("mine")
    assert result.python
    assert result.settings["llm.context_window"] == 110000
    assert result.settings["auto_run"] is True
    interp = make_interpreter()
    assert apply_profile(interp, "mine") == []
    assert interp.auto_run is True and interp.loop is True and interp.profile == "mine"


def test_python_profile_error_names_line():
    write("oops.py", "interpreter.auto_run = True\ninterpreter.llm.nonsense()\n")
    with pytest.raises(ProfileError) as info:
        load_profile("oops")
    assert "oops.py" in info.value.message and "line 2" in info.value.message


def test_python_profile_outside_user_dir_refused(tmp_path):
    path = tmp_path / "evil.py"
    path.write_text("import os\nos.environ['PWNED'] = '1'\n")
    with pytest.raises(ProfileError, match="only loaded from your own profile folder"):
        load_profile(str(path))
    import os

    assert "PWNED" not in os.environ


def test_yaml_profile_by_path(tmp_path):
    path = tmp_path / "elsewhere.yaml"
    path.write_text("model: foo/bar\n")
    assert load_profile(str(path)).settings == {"llm.model": "foo/bar"}


def test_user_profile_hides_shipped_one():
    write("fast.yaml", "model: my-fast\n")
    info = next(i for i in list_profiles() if i.name == "fast")
    assert info.source == "user"
    assert load_profile("fast").settings["llm.model"] == "my-fast"


def test_apply_profile_keeps_messages_resets_others_and_publishes(make_interpreter, llm):
    interp = make_interpreter()
    interp.messages = [{"role": "user", "type": "message", "content": "hello"}]
    seen = []
    interp.bus.on(SettingsApplied, seen.append)
    write("a.yaml", f"llm:\n  model: openai/model-a\n  api_base: {llm.url}\n  api_key: secret-key-123456\nauto_run: true\n")
    write("b.yaml", f"llm:\n  model: openai/model-b\n  api_base: {llm.url}\n")
    assert apply_profile(interp, "a") == []
    assert interp.auto_run is True and interp.profile == "a"
    assert apply_profile(interp, "b") == []
    assert interp.llm.model == "openai/model-b"
    assert interp.auto_run is False  # not in b: back to the default
    assert interp.messages == [{"role": "user", "type": "message", "content": "hello"}]
    assert seen[-1].profile == "b" and seen[-1].changed["llm.model"] == "openai/model-b"
    assert "secret-key-123456" not in repr(seen)


def test_overrides_beat_the_profile(make_interpreter):
    interp = make_interpreter()
    apply_profile(interp, "fast", overrides={"llm.model": "flag-model", "auto_run": True})
    assert interp.llm.model == "flag-model" and interp.auto_run is True
    assert interp.custom_instructions  # from fast.yaml


async def test_switch_changes_model_of_next_request(make_interpreter, llm):
    from oi_core.session import Session

    interp = make_interpreter()
    session = Session(interp)
    write("one.yaml", f"llm:\n  model: openai/first-model\n  api_base: {llm.url}\n  api_key: k\n  supports_functions: false\n")
    write("two.yaml", f"llm:\n  model: openai/second-model\n  api_base: {llm.url}\n  api_key: k\n  supports_functions: false\n")
    apply_profile(interp, "one")
    llm.queue("first answer", "second answer")
    await session.run_turn("hello")
    assert llm.requests[-1]["model"] == "first-model"
    apply_profile(interp, "two")
    await session.run_turn("again")
    assert llm.requests[-1]["model"] == "second-model"
    contents = [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"]
    assert any("hello" in str(c) for c in contents)  # the conversation survived the switch
    await session.close()


def test_session_key_survives_switch_to_same_endpoint(make_interpreter, llm):
    interp = make_interpreter()
    write("same1.yaml", f"llm:\n  model: openai/m1\n  api_base: {llm.url}\n")
    write("same2.yaml", f"llm:\n  model: openai/m2\n  api_base: {llm.url}\nauto_run: true\n")
    apply_profile(interp, "same1")
    interp.llm.api_key = "typed-in-session-key"
    apply_profile(interp, "same2")
    assert interp.llm.api_key == "typed-in-session-key"
    apply_profile(interp, "fast")  # another endpoint: the key does not follow
    assert interp.llm.api_key is None


def test_start_up_flags_outlive_a_switch_where_the_new_profile_is_silent(make_interpreter, llm):
    interp = make_interpreter()
    write("flagged.yaml", "llm:\n  model: openai/profile-model\n")
    write("other.yaml", "llm:\n  model: openai/other-model\nauto_run: true\n")
    apply_profile(interp, "flagged", overrides={"conversation_history": False, "auto_run": False,
                                                "llm.model": "openai/flag-model"})
    assert interp.llm.model == "openai/flag-model"  # flags beat the profile at start-up
    apply_profile(interp, "other")
    assert interp.conversation_history is False  # the flag survives: the profile does not mention it
    assert interp.auto_run is True  # the profile says otherwise, and the user chose this profile
    assert interp.llm.model == "openai/other-model"
