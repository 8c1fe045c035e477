"""Every documented setting name works on the interpreter and on llm; an unknown one is never silently ignored."""

from __future__ import annotations

import warnings

import pytest

from oi_core.errors import SettingsError
from oi_core.settings import SettingWarning, apply_setting

#: Every `interpreter.…= value` assignment in the reference docs (settings/all-settings, guides, profiles),
#: with a value of the right type and the setting it must change.
DOCUMENTED = [
    ("llm.model", "gpt-3.5-turbo", "llm.model"),
    ("llm.temperature", 0.7, "llm.temperature"),
    ("llm.context_window", 16000, "llm.context_window"),
    ("llm.max_tokens", 100, "llm.max_tokens"),
    ("llm.max_output", 1000, "llm.max_output"),
    ("llm.api_base", "https://api.example.com", "llm.api_base"),
    ("llm.api_key", "your_api_key_here", "llm.api_key"),
    ("llm.api_version", "2.0.2", "llm.api_version"),
    ("llm.supports_functions", False, "llm.supports_functions"),
    ("llm.supports_vision", True, "llm.supports_vision"),
    ("llm.execution_instructions", "Write a fenced block.", "llm.execution_instructions"),
    ("llm.completions", None, "llm.completions"),
    ("max_output", 2000, "llm.max_output"),
    ("context_window", 16000, "llm.context_window"),
    ("loop", True, "loop"),
    ("verbose", True, "verbose"),
    ("safe_mode", "ask", "safe_mode"),
    ("auto_run", True, "auto_run"),
    ("max_budget", 0.01, "max_budget"),
    ("offline", True, "offline"),
    ("custom_instructions", "Be brief.", "custom_instructions"),
    ("system_message", "You are Open Interpreter...", "system_message"),
    ("anonymized_telemetry", False, "anonymized_telemetry"),
    ("disable_telemetry", True, "disable_telemetry"),
    ("messages", [], "messages"),
    ("user_message_template", "{content} Please.", "user_message_template"),
    ("always_apply_user_message_template", False, "always_apply_user_message_template"),
    ("code_output_template", "Code output: {content}", "code_output_template"),
    ("empty_code_output_template", "Nothing printed.", "empty_code_output_template"),
    ("code_output_sender", "assistant", "code_output_sender"),
    ("computer.offline", True, "computer.offline"),
    ("computer.verbose", True, "computer.verbose"),
    ("computer.emit_images", True, "computer.emit_images"),
    ("computer.import_computer_api", True, "computer.import_computer_api"),
    ("conversation_history", False, "conversation_history"),
    ("conversation_filename", "my_conversation.json", "conversation_filename"),
    ("conversation_history_path", "my_folder/conversations", "conversation_history_path"),
    ("os", True, "os"),
    # flat names from the terminal settings table and older profiles
    ("model", "gpt-4o-mini", "llm.model"),
    ("temperature", 0.2, "llm.temperature"),
    ("max_tokens", 300, "llm.max_tokens"),
    ("api_base", "http://localhost:1234/v1", "llm.api_base"),
    ("api_key", "k", "llm.api_key"),
    ("api_version", "1", "llm.api_version"),
    # documented under `llm:` in some profiles although they belong to the interpreter
    ("llm.max_budget", 0.5, "max_budget"),
    ("llm.custom_instructions", "Short answers.", "custom_instructions"),
]


def assign(interp, path: str, value) -> None:
    """`interpreter.a.b = value`, as a script would write it."""
    *parents, name = path.split(".")
    target = interp
    for part in parents:
        target = getattr(target, part)
    setattr(target, name, value)


@pytest.mark.parametrize("path, value, real", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_name_sets_the_real_setting_without_warning(make_interpreter, path, value, real) -> None:
    interp = make_interpreter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SettingWarning)
        assign(interp, path, value)
    assert interp.get_setting(real) == value
    assert interp.get_setting(path) == value
    if path != "llm.completions":  # a Python function: set in code only
        other = make_interpreter()
        apply_setting(other, path, value)  # the same names in profiles and SettingChanged
        assert other.get_setting(real) == value


def test_flat_max_output_limits_what_the_model_sees(make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    interp.max_output = 2000  # exactly as docs/settings/all-settings shows it
    llm.queue("```shell\nseq 1 5000\n```", "ok")
    interp.chat("count", display=False)
    seen = llm.requests[-1]["messages"][-1]["content"]
    assert "Output truncated" in seen and "of 2,000" not in seen
    body = seen.split("Output truncated")[0] + seen.split("characters.]")[-1]
    assert len(body) <= 2000 + len(interp.code_output_template)


@pytest.mark.parametrize(
    "owner, name, suggestion",
    [("", "max_ouput", "interpreter.llm.max_output"), ("llm", "temprature", "interpreter.llm.temperature"),
     ("", "auto_rnu", "interpreter.auto_run"), ("llm", "context_windw", "interpreter.llm.context_window")],
)
def test_unknown_name_warns_once_naming_the_closest_setting(make_interpreter, owner, name, suggestion) -> None:
    interp = make_interpreter()
    target = interp.llm if owner else interp
    with pytest.warns(SettingWarning) as caught:
        setattr(target, name, 1)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert name in text and suggestion in text and "no effect" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", SettingWarning)
        setattr(target, name, 2)  # one warning per name, not one per assignment


def test_unknown_setting_by_path_names_the_closest(make_interpreter) -> None:
    with pytest.raises(SettingsError, match="did you mean llm.temperature"):
        apply_setting(make_interpreter(), "llm.temprature", 0.1)
