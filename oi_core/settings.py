"""Every documented setting: its dotted path, type and meaning, plus coercion and the old flat names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import SettingsError


@dataclass(frozen=True)
class Setting:
    path: str
    type: str  # "str", "int", "float", "bool", "list", "dict", "any", "str|None" ...
    help: str


SETTINGS: dict[str, Setting] = {
    s.path: s
    for s in [
        Setting("llm.model", "str", "Model name as litellm knows it (gpt-4o, ollama/llama3, openai/<name> for OpenAI-compatible servers)."),
        Setting("llm.temperature", "float", "Sampling temperature."),
        Setting("llm.context_window", "int|None", "Tokens the model accepts; older messages are trimmed to fit."),
        Setting("llm.max_tokens", "int|None", "Most tokens the model may write per reply."),
        Setting("llm.max_output", "int", "Characters of code output sent back to the model (the rest is cut, and it is told)."),
        Setting("llm.api_base", "str|None", "URL of the API (e.g. http://localhost:1234/v1)."),
        Setting("llm.api_key", "str|None", "API key (better: the keyring, or the provider's environment variable)."),
        Setting("llm.api_version", "str|None", "API version (Azure)."),
        Setting("llm.supports_functions", "bool|None", "Use tool calling for code (None: ask litellm)."),
        Setting("llm.supports_vision", "bool|None", "Send images to the model (None: ask litellm)."),
        Setting("llm.execution_instructions", "str", "How the model is told to write runnable code in text mode."),
        Setting("llm.request_timeout", "float", "Seconds to wait for the model."),
        Setting("llm.max_retries", "int", "Retries on rate limits, server errors and timeouts."),
        Setting("auto_run", "bool", "Run code without asking for approval."),
        Setting("safe_mode", "any", "off, ask or auto: scan code with semgrep before approval (ask: on request, auto: every block); ask and auto always ask for approval, even with auto_run."),
        Setting("allow_rules", "list", "Always-allow rules: code they match runs without asking (never over scan findings, high-risk marks or cut-off code); empty = off."),
        Setting("offline", "bool", "Disable features that need the internet."),
        Setting("verbose", "bool", "Show debugging details."),
        Setting("debug", "bool", "Show debugging details."),
        Setting("loop", "bool", "Keep the model working until it says the task is done or impossible."),
        Setting("loop_message", "str", "What is said to the model to keep it going in loop mode."),
        Setting("loop_breakers", "list", "Phrases that end loop mode."),
        Setting("max_budget", "float|None", "Most USD to spend in this session."),
        Setting("system_message", "str", "The system message."),
        Setting("custom_instructions", "str", "Added to the system message."),
        Setting("user_message_template", "str", "Wraps the user's message; {content} is replaced."),
        Setting("always_apply_user_message_template", "bool", "Apply the template to every user message, not just the last."),
        Setting("code_output_template", "str", "How code output is shown to the model; {content} is replaced."),
        Setting("empty_code_output_template", "str", "Shown to the model when code printed nothing."),
        Setting("code_output_sender", "str", "Role that reports code output in text mode: user or assistant."),
        Setting("os", "bool", "OS mode: the model controls the screen, mouse and keyboard."),
        Setting("disable_telemetry", "bool", "Accepted for compatibility; oi-tui sends no telemetry at all."),
        Setting("anonymized_telemetry", "bool", "Accepted for compatibility; oi-tui sends no telemetry at all."),
        Setting("in_terminal_interface", "bool", "Set by the terminal front ends."),
        Setting("multi_line", "bool", "Multi-line input."),
        Setting("speak_messages", "bool", "Speak replies aloud (macOS only in the reference)."),
        Setting("plain_text_display", "bool", "Plain text instead of rich rendering."),
        Setting("highlight_active_line", "bool", "Highlight the line that is running."),
        Setting("conversation_history", "bool", "Save conversations automatically."),
        Setting("checkpoints", "bool", "Record the working directory's files before each run, so Undo and Rewind can put them back."),
        Setting("checkpoint_max_file_size", "int", "Bytes: bigger files are not copied into checkpoints (listed as not restorable)."),
        Setting("conversation_filename", "str|None", "File name of this conversation."),
        Setting("conversation_history_path", "str|None", "Folder of saved conversations."),
        Setting("messages", "list", "The conversation as LMC messages."),
        Setting("computer.offline", "bool", "Computer API without internet features."),
        Setting("computer.verbose", "bool", "Computer API debugging output."),
        Setting("computer.emit_images", "bool", "Show images produced by code (and send them to vision models)."),
        Setting("computer.import_computer_api", "bool", "Make `computer` importable in the Python runner."),
    ]
}

#: Older flat names (v0.1 profiles, `interpreter.model` style) and where they live now.
LEGACY_NAMES = {
    "model": "llm.model",
    "llm_model": "llm.model",
    "temperature": "llm.temperature",
    "llm_temperature": "llm.temperature",
    "context_window": "llm.context_window",
    "max_tokens": "llm.max_tokens",
    "max_output": "llm.max_output",
    "api_base": "llm.api_base",
    "api_key": "llm.api_key",
    "api_version": "llm.api_version",
    "function_calling_llm": "llm.supports_functions",
    "supports_functions": "llm.supports_functions",
    "vision": "llm.supports_vision",
    "supports_vision": "llm.supports_vision",
    "llm_supports_functions": "llm.supports_functions",
    "llm_supports_vision": "llm.supports_vision",
    "execution_instructions": "llm.execution_instructions",
    "emit_images": "computer.emit_images",
    "import_computer_api": "computer.import_computer_api",
    # the flat `llm_*` names of the terminal settings table
    "llm_context_window": "llm.context_window",
    "llm_max_tokens": "llm.max_tokens",
    "llm_max_output": "llm.max_output",
    "llm_api_base": "llm.api_base",
    "llm_api_key": "llm.api_key",
    "llm_api_version": "llm.api_version",
    "llm_max_budget": "max_budget",
    "llm.max_budget": "max_budget",
    # some documented profiles nest these under `llm:` although they belong to the interpreter
    "llm.custom_instructions": "custom_instructions",
    "llm.system_message": "system_message",
}

#: Profile keys that switch a whole mode on (expanded by oi_core.profiles) rather than set one value.
MODE_KEYS = ("fast", "local", "vision", "os")

_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}


def canonical_path(path: str) -> str:
    return LEGACY_NAMES.get(path, path)


def coerce(setting: Setting, value: Any) -> Any:
    """Convert `value` to the setting's type; raise SettingsError with a sentence naming the setting."""
    kinds = setting.type.split("|")
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null") and "None" in kinds):
        if "None" in kinds or "any" in kinds:
            return None
        raise SettingsError(f"{setting.path} cannot be empty; expected {kinds[0]}.")
    for kind in kinds:
        if kind == "None":
            continue
        try:
            return _coerce_one(kind, value)
        except (TypeError, ValueError):
            continue
    raise SettingsError(f"{setting.path} expects {' or '.join(kinds)}, got {value!r}.")


def _coerce_one(kind: str, value: Any) -> Any:
    if kind == "any":
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    if kind == "str":
        if isinstance(value, (dict, list, bool)):
            raise ValueError
        return str(value)
    if kind == "list":
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ValueError
    if kind == "dict":
        if isinstance(value, dict):
            return value
        raise ValueError
    raise ValueError


def _check_safe_mode(value: Any) -> str:
    mode = "off" if value is False or value is None else str(value).strip().lower()  # YAML reads `off` as false
    if isinstance(value, (dict, list)) or value is True or mode not in ("off", "ask", "auto"):
        raise SettingsError(f"safe_mode must be off, ask or auto, got {value!r}.")
    return mode


SafeMode = Literal["off", "ask", "auto"]


def safe_mode_of(interpreter: Any) -> SafeMode:
    """The effective safe mode; an unknown value counts as "ask", the careful choice."""
    value = str(interpreter.safe_mode or "off").strip().lower()
    if value in ("off", "false", "no", "none", "0"):
        return "off"
    return "auto" if value == "auto" else "ask"


def _check_allow_rules(value: Any) -> list[Any]:
    if not value:  # the usual case: the rule parser's import (~3 ms) is not on the way to the first frame
        return []
    from .approval import parse_allow_rules

    _rules, problems = parse_allow_rules(list(value))
    if problems:
        raise SettingsError(f"allow_rules: {problems[0]}")
    return [dict(rule) for rule in value]


#: Settings whose values are checked beyond their type.
_CHECKS = {"safe_mode": _check_safe_mode, "allow_rules": _check_allow_rules}


def apply_setting(interpreter: Any, path: str, value: Any) -> None:
    """Set one setting on an interpreter, validating its name and type."""
    path = canonical_path(path)
    setting = SETTINGS.get(path)
    if setting is None:
        close = closest_setting("interpreter", path.rsplit(".", 1)[-1])
        raise SettingsError(f"Unknown setting {path!r}" + (f"; did you mean {close}?" if close else "."))
    value = coerce(setting, value)
    if path in _CHECKS:
        value = _CHECKS[path](value)
    if path == "messages":
        interpreter.load_messages(value)
        return
    target = interpreter
    parts = path.split(".")
    for part in parts[:-1]:
        target = getattr(target, part)
    setattr(target, parts[-1], value)
    if path == "disable_telemetry":
        interpreter.anonymized_telemetry = not value


# ---------------------------------------------------------------- names set as attributes (the Python API)


class SettingWarning(UserWarning):
    """A name set on `interpreter` or `interpreter.llm` that is no setting, so it would have no effect."""


def _owner_names(owner: str) -> dict[str, str]:
    """Attribute names valid on `owner` ("interpreter" or "llm"), each mapped to the setting path it sets."""
    prefix = "" if owner == "interpreter" else owner + "."
    names: dict[str, str] = {}
    for path in SETTINGS:
        if path.startswith(prefix) and "." not in path[len(prefix) :]:
            names[path[len(prefix) :]] = path
    for old, path in LEGACY_NAMES.items():
        if old.startswith(prefix) and "." not in old[len(prefix) :]:
            names.setdefault(old[len(prefix) :], path)
    return names


def alias_target(owner: str, name: str) -> str | None:
    """The real setting path behind a documented alias (`interpreter.max_output` -> "llm.max_output")."""
    prefix = "" if owner == "interpreter" else owner + "."
    return LEGACY_NAMES.get(prefix + name)


def closest_setting(owner: str, name: str) -> str | None:
    """The real setting path whose name is nearest to `name`, for "did you mean" messages."""
    import difflib

    names = _owner_names(owner)
    match = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.6)
    if match:
        return names[match[0]]
    everything = {path.rsplit(".", 1)[-1]: path for path in SETTINGS}
    match = difflib.get_close_matches(name.lower(), list(everything), n=1, cutoff=0.75)
    return everything[match[0]] if match else None


def unknown_setting_message(owner: str, name: str) -> str:
    """One sentence for a name that is not a setting, naming the closest real one."""
    where = "interpreter" if owner == "interpreter" else f"interpreter.{owner}"
    close = closest_setting(owner, name)
    hint = f"; did you mean interpreter.{close}?" if close else "; see `oi-tui --help` or the settings docs for the list."
    return f"{where}.{name} is not a setting, so it has no effect{hint}"


class _LockedAfterInit(type):
    """Marks an instance as fully built once its __init__ returns (later unknown names are warned about)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        object.__setattr__(instance, "_settings_locked", True)
        return instance


class SettingsObject(metaclass=_LockedAfterInit):
    """Base of `OpenInterpreter` and `Llm`: documented aliases work, unknown public names warn once.

    `_settings_owner` says which part of the settings schema the object holds; `_alias_holder(path)`
    returns the object that holds a setting path's last part (aliases may live on another object).
    """

    _settings_owner = "interpreter"

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in self.__dict__ or not self.__dict__.get("_settings_locked") \
                or hasattr(type(self), name):
            object.__setattr__(self, name, value)
            return
        target = alias_target(self._settings_owner, name)
        holder = self._alias_holder(target) if target else None
        if holder is not None:
            setattr(holder, target.rsplit(".", 1)[-1], value)  # type: ignore[union-attr]
            return
        warned = self.__dict__.setdefault("_unknown_names_warned", set())
        if name not in warned:
            warned.add(name)
            import warnings

            warnings.warn(unknown_setting_message(self._settings_owner, name), SettingWarning, stacklevel=2)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        """Only called for missing attributes: read documented aliases from where they really live."""
        if not name.startswith("_"):
            target = alias_target(self._settings_owner, name)
            holder = self._alias_holder(target) if target else None
            if holder is not None:
                return getattr(holder, target.rsplit(".", 1)[-1])  # type: ignore[union-attr]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _alias_holder(self, path: str) -> Any:
        raise NotImplementedError
