"""Profiles: named sets of settings in YAML (or, from the user's own folder, Python).

Where they come from, in order of precedence when two share a name:

1. the user's profile folder (``<platform config dir>/oi-tui/profiles``), created on first use with an
   editable ``default.yaml``;
2. the profiles shipped with oi-tui (the top-level ``profiles/`` folder of the source tree).

A YAML profile may use any mix of the documented shapes::

    llm:                     # nested
      model: gpt-4o
    llm.temperature: 0.2     # dotted
    model: gpt-4o            # the older flat names (see settings.LEGACY_NAMES)
    local: true              # a whole mode (fast, local, vision, os)
    version: 0.2.5

A profile is validated completely before anything is applied, and every problem is reported with the
file, the line and the key. Keys that cannot be used are left out with a warning naming the closest real
setting; the rest of the profile is kept. A profile that cannot be used at all (unreadable, not YAML, or a
model or endpoint setting that is unusable) is replaced by the default profile, and the messages say so,
except that a profile meant for a local server or offline use is never replaced by one that could send the
conversation to a hosted model: `apply_profile` raises ProfileError instead.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import parsed_cache
from .errors import SettingsError
from .settings import LEGACY_NAMES, MODE_KEYS, SETTINGS, canonical_path, coerce

PROFILE_SUFFIXES = (".yaml", ".yml", ".py")
DEFAULT_PROFILE = "default"
try:  # the checkout's profiles/ folder, or share/oi-tui/profiles in an installed wheel
    from .shipped import shipped_dir as _shipped_dir

    SHIPPED_DIR = _shipped_dir("profiles")
except Exception:  # pragma: no cover - older layout
    SHIPPED_DIR = Path(__file__).resolve().parent.parent / "profiles"

VISION_INSTRUCTIONS = (
    "You can see images: the user may attach screenshots or mention image file paths, and images your code "
    "shows with matplotlib (plt.show()) come back to you. When you build a web page, write the complete "
    "HTML, CSS and JavaScript in one block every time; never leave placeholders for earlier parts."
)

#: What each mode key (`--fast`, `local: true` ...) sets. Explicit settings given alongside win.
MODES: dict[str, dict[str, Any]] = {
    "fast": {"llm.model": "gpt-4o-mini"},
    "local": {
        "offline": True,
        "llm.model": "openai/local",
        "llm.api_base": "http://localhost:1234/v1",
        "llm.supports_functions": False,
        "llm.context_window": 8000,
        "llm.max_tokens": 1200,
    },
    "vision": {
        "llm.model": "gpt-4o",
        "llm.supports_vision": True,
        "computer.emit_images": True,
        "custom_instructions": VISION_INSTRUCTIONS,
    },
    "os": {
        "os": True,
        "llm.model": "gpt-4o",
        "llm.supports_vision": True,
        "computer.emit_images": True,
        "computer.import_computer_api": True,
    },
}

#: Settings a profile switch leaves alone: they describe the session, not the configuration.
SESSION_SETTINGS = frozenset(
    {"messages", "conversation_filename", "conversation_history_path", "in_terminal_interface", "plain_text_display"}
)

DEFAULT_TEMPLATE = """\
# Your default oi-tui profile: loaded when no --profile is given. Edit freely.
# Every setting from the documentation works here, nested (llm: {model: ...}), dotted (llm.model: ...)
# or with the older flat names (model: ...). Keep API keys out of this file: use `oi-tui --set-key openai`
# or the provider's environment variable instead.

llm:
  model: gpt-4o
  temperature: 0
  # api_base: http://localhost:1234/v1   # an OpenAI-compatible server
  # context_window: 16000
  # max_tokens: 1000

# custom_instructions: "Prefer Python. Keep answers short."
auto_run: false
offline: false

version: 0.2.5
"""


class ProfileError(SettingsError):
    """A profile could not be found or is invalid; the message names file, line and key."""

    kind = "profile"


@dataclass
class ProfileInfo:
    name: str
    path: Path
    source: str  # "user" or "shipped"

    @property
    def kind(self) -> str:
        return "python" if self.path.suffix == ".py" else "yaml"


@dataclass
class ProfileResult:
    """A validated profile: dotted setting path -> value (already coerced), in file order."""

    name: str
    path: Path | None
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    version: str | None = None
    python: bool = False


# ---------------------------------------------------------------- folders


def user_profile_dir() -> Path:
    """Where the user's profiles live (not created)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("oi-tui", appauthor=False)) / "profiles"


def profile_dir(create: bool = True) -> Path:
    """The user's profile folder; on first use it is created with an editable default.yaml."""
    path = user_profile_dir()
    if create:
        path.mkdir(parents=True, exist_ok=True)
        default = path / "default.yaml"
        if not any((path / f"default{suffix}").exists() for suffix in PROFILE_SUFFIXES):
            shipped = SHIPPED_DIR / "default.yaml"
            if shipped.is_file():
                shutil.copyfile(shipped, default)
            else:
                default.write_text(DEFAULT_TEMPLATE, encoding="utf-8")
    return path


def shipped_profile_dir() -> Path:
    return SHIPPED_DIR


def list_profiles() -> list[ProfileInfo]:
    """Every profile by name; a user profile hides a shipped one of the same name."""
    found: dict[str, ProfileInfo] = {}
    for source, folder in (("shipped", SHIPPED_DIR), ("user", profile_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in PROFILE_SUFFIXES and path.is_file() and not path.name.startswith((".", "_")):
                if source == "shipped" and path.suffix == ".py":
                    continue  # Python profiles run only from the user's own folder
                found[path.stem] = ProfileInfo(path.stem, path, source)
    return sorted(found.values(), key=lambda info: (info.name != DEFAULT_PROFILE, info.name))


def editable_profile(name: str | None) -> Path:
    """The user's own file for profile `name` (a shipped one is copied into the user's folder first)."""
    path = resolve_profile(name or DEFAULT_PROFILE)
    folder = profile_dir()
    if path.parent.resolve() == folder.resolve():
        return path
    target = folder / path.name
    if not target.exists():
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def resolve_profile(name_or_path: str | os.PathLike[str]) -> Path:
    """Find a profile by name ("fast", "fast.yaml") or path; raise ProfileError naming what exists."""
    raw = str(name_or_path).strip()
    if not raw:
        raise ProfileError("No profile name given.")
    candidate = Path(raw).expanduser()
    if candidate.is_file():
        return candidate.resolve()
    names = [raw] if Path(raw).suffix in PROFILE_SUFFIXES else [raw + suffix for suffix in PROFILE_SUFFIXES]
    for folder in (profile_dir(), SHIPPED_DIR):
        for name in names:
            path = folder / name
            if path.is_file():
                return path.resolve()
    available = ", ".join(info.name for info in list_profiles()) or "none"
    raise ProfileError(f"No profile named {raw!r} (available: {available}; folder: {profile_dir()}).")


# ---------------------------------------------------------------- loading


PROFILE_SIZE_LIMIT = 1024 * 1024  # a profile is a short settings file; anything larger is refused unread
VALUE_NODE_LIMIT = 10_000  # items in one setting's value (YAML aliases can make a tiny file enormous)
VALUE_DEPTH_LIMIT = 50
PROBLEM_LIMIT = 20  # problems named one by one; the rest are counted
#: Settings that decide where the conversation is sent: a profile whose value for one of them is unusable
#: is not kept at all (keeping the rest could send a local user's messages to a hosted model).
ROUTING_SETTINGS = frozenset({"llm.model", "llm.api_base", "offline", "local"})


def load_profile(name_or_path: str | os.PathLike[str]) -> ProfileResult:
    """Read and validate a profile; raise ProfileError (file, line, key) if it cannot be used.

    A profile with some unusable keys is kept without them: each is named in `result.warnings`.
    """
    path = resolve_profile(name_or_path)
    if path.suffix == ".py":
        return _load_python(path)
    document = parsed_cache.load(path, "profile", lambda file: _yaml_document(read_profile_text(file), str(file)))
    return _profile_from(document, path, None)


def read_profile_text(path: Path) -> str:
    """The profile's text; ProfileError (one sentence) when it is unreadable, too large or not UTF-8."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(PROFILE_SIZE_LIMIT + 1)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if len(raw) > PROFILE_SIZE_LIMIT:
        raise ProfileError(f"{path}: larger than {PROFILE_SIZE_LIMIT // 1024} KiB, so it is not a profile oi-tui will read.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ProfileError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8."
        ) from None


def _too_big(value: Any) -> str | None:
    """Why `value` is too large to be a setting (counted with a budget, so aliases cannot make this slow)."""
    budget = VALUE_NODE_LIMIT
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return f"more than {VALUE_NODE_LIMIT:,} items (YAML aliases repeating each other?)"
        if depth > VALUE_DEPTH_LIMIT:
            return f"nested more than {VALUE_DEPTH_LIMIT} levels deep"
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for pair in item.items() for child in pair)
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
    return None


def _short(value: Any) -> str:
    """A repr short enough for a message, whatever the value."""
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = 60
    shortener.maxlevel = 2
    return shortener.repr(value)


def parse_yaml_profile(text: str, path: Path | None = None, name: str | None = None) -> ProfileResult:
    """Validate a YAML profile: unusable keys become warnings; a file that cannot be used raises ProfileError."""
    return _profile_from(_yaml_document(text, str(path) if path else "<profile>"), path, name)


def _yaml_document(text: str, where: str) -> dict[str, Any]:
    """{"data": what the YAML holds, "lines": dotted key -> line}; ProfileError (with the line) if it is not YAML."""
    import yaml

    from .yaml_load import SafeLoader

    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{where}{line}: invalid YAML ({problem}).") from None
    except RecursionError:
        raise ProfileError(f"{where}: nested too deeply to be a profile.") from None
    finally:
        loader.dispose()
    return {"data": data, "lines": _key_lines(node) if isinstance(data, dict) else {}}


def _profile_from(document: dict[str, Any], path: Path | None, name: str | None) -> ProfileResult:
    where = str(path) if path else "<profile>"
    data, lines = document["data"], document["lines"]
    result = ProfileResult(name or (path.stem if path else "profile"), path)
    if data is None:
        return result
    if not isinstance(data, dict):
        raise ProfileError(f"{where}, line 1: a profile must be a mapping of settings (key: value), not {type(data).__name__}.")
    problems: list[tuple[str, str]] = []  # (setting or key, sentence)
    explicit: dict[str, Any] = {}
    modes: dict[str, Any] = {}

    def at(key_path: str) -> str:
        line = lines.get(key_path)
        return f"{where}, line {line}" if line else where

    def walk(mapping: dict[Any, Any], prefix: str, depth: int) -> None:
        for key, value in mapping.items():
            key_text = str(key)[:200]
            full = prefix + key_text
            if not prefix and key_text == "version":
                result.version = None if value is None else _short(value) if not isinstance(value, (str, int, float)) else str(value)
                continue
            size_problem = _too_big(value)
            if size_problem is not None:
                problems.append((canonical_path(full), f"{at(full)}: the value of {full!r} has {size_problem}."))
                continue
            if not prefix and key_text in MODE_KEYS and not (key_text == "os" and value is False):
                try:
                    enabled = coerce(SETTINGS["auto_run"], value)  # any bool-typed setting coerces the same way
                except SettingsError:
                    problems.append((key_text, f"{at(full)}: {key_text!r} must be true or false, got {_short(value)}."))
                    continue
                if enabled:
                    modes[key_text] = True
                elif key_text == "vision":
                    explicit["llm.supports_vision"] = False
                continue
            if isinstance(value, dict) and depth < 3 and _is_group(canonical_path(full)):
                walk(value, full + ".", depth + 1)
                continue
            target = canonical_path(full)
            setting = SETTINGS.get(target)
            if setting is None:
                if len(problems) >= PROBLEM_LIMIT:
                    problems.append((target, ""))
                    continue
                close = _closest(full)
                hint = f" (did you mean {close!r}?)" if close else ""
                # a misspelt model or endpoint key is as unusable as a wrong value for it
                problems.append((canonical_path(close) if close else target,
                                 f"{at(full)}: unknown setting {full!r}{hint}; it was ignored."))
                continue
            if value is None and setting.type == "str":
                value = ""
            try:
                explicit[target] = coerce(setting, value)
            except SettingsError:
                problems.append((target, f"{at(full)}: {full!r} expects {setting.type.replace('|', ' or ')}, got {_short(value)}."))

    walk(data, "", 0)
    routed = set(explicit) | set(modes)  # routing settings a valid key did set
    fatal = [sentence for target, sentence in problems if target in ROUTING_SETTINGS - routed and sentence]
    if fatal:
        raise ProfileError(
            " ".join(fatal).replace("; it was ignored.", ".")
            + " That setting decides where your messages are sent, so the profile was not used."
        )
    for mode in modes:
        result.settings.update(MODES[mode])
    result.settings.update(explicit)
    result.warnings.extend(sentence for _, sentence in problems if sentence)
    unsaid = sum(1 for _, sentence in problems if not sentence)
    if unsaid:
        result.warnings.append(f"{where}: {unsaid} more unknown setting{'s' if unsaid != 1 else ''} ignored.")
    return result


def _is_group(path: str) -> bool:
    return any(name.startswith(path + ".") for name in SETTINGS)


def _closest(key: str) -> str | None:
    """The real setting name closest to a misspelt one, if any is close."""
    names = list(SETTINGS) + list(LEGACY_NAMES) + list(MODE_KEYS) + ["version"]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(leaf, names, n=1, cutoff=0.75)
    return close[0] if close else None


def _suggest(key: str) -> str:
    close = _closest(key)
    return f" (did you mean {close!r}?)" if close else ""


def _key_lines(node: Any) -> dict[str, int]:
    """Dotted key path -> 1-based line of the key, from the composed YAML tree (a bounded walk: settings nest
    three deep at most, and an alias is not followed twice)."""
    import yaml

    out: dict[str, int] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, str, int]] = [(node, "", 0)]
    while stack and len(out) < 5000:
        current, prefix, depth = stack.pop()
        if not isinstance(current, yaml.MappingNode) or depth > 3 or id(current) in seen:
            continue
        seen.add(id(current))
        for key_node, value_node in current.value[:1000]:
            if isinstance(key_node, yaml.ScalarNode):
                path = prefix + str(key_node.value)[:200]
                out.setdefault(path, key_node.start_mark.line + 1)
                stack.append((value_node, path + ".", depth + 1))
    return out


# ---------------------------------------------------------------- Python profiles


def _check_python_allowed(path: Path) -> None:
    folder = user_profile_dir().resolve()
    if path.resolve().parent != folder:
        raise ProfileError(
            f"{path}: Python profiles run code, so they are only loaded from your own profile folder ({folder}). "
            "Copy the file there if you trust it."
        )


def _exec_python_profile(path: Path, target: Any) -> None:
    """Run a Python profile with `interpreter` bound to `target` (also as `from interpreter import interpreter`)."""
    _check_python_allowed(path)
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise ProfileError(f"{path}, line {exc.lineno}: invalid Python ({exc.msg}).") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    shim = types.ModuleType("interpreter")
    shim.interpreter = target  # type: ignore[attr-defined]
    shim.OpenInterpreter = type(target)  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("interpreter",)}
    sys.modules["interpreter"] = shim
    namespace: dict[str, Any] = {"__name__": "__oi_profile__", "__file__": str(path), "interpreter": target}
    try:
        exec(code, namespace)
    except SettingsError as exc:
        raise ProfileError(f"{path}, line {_traceback_line(exc, path)}: {exc.message}") from exc
    except Exception as exc:
        raise ProfileError(f"{path}, line {_traceback_line(exc, path)}: {type(exc).__name__}: {exc}") from exc
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _traceback_line(exc: BaseException, path: Path) -> str:
    line = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = str(frame.lineno)
    return line


def _load_python(path: Path) -> ProfileResult:
    from .open_interpreter import OpenInterpreter

    target = OpenInterpreter()
    _exec_python_profile(path, target)
    defaults = default_values()
    result = ProfileResult(path.stem, path, python=True)
    for name in SETTINGS:
        if name in SESSION_SETTINGS:
            continue
        value = target.get_setting(name)
        if value != defaults.get(name):
            result.settings[name] = value
    return result


# ---------------------------------------------------------------- applying

_DEFAULTS: dict[str, Any] | None = None


def default_values() -> dict[str, Any]:
    """Every setting's value on a fresh interpreter."""
    global _DEFAULTS
    if _DEFAULTS is None:
        from .open_interpreter import OpenInterpreter

        fresh = OpenInterpreter()
        _DEFAULTS = {name: _copy(fresh.get_setting(name)) for name in SETTINGS if name not in SESSION_SETTINGS}
    return {name: _copy(value) for name, value in _DEFAULTS.items()}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


def expand_modes(modes: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Settings for the given mode names (for `--fast`, `--local`, `--vision`, `--os`)."""
    out: dict[str, Any] = {}
    for mode in modes:
        out.update(MODES[mode])
    return out


_LOCAL_NAME = re.compile(r"local|offline|ollama|lm.?studio|llama|vllm", re.I)
_LOCAL_TEXT = re.compile(
    r"localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]|ollama|lm_?studio|llamafile|llama\.cpp|vllm|api_base"
    r"|^\s*offline\s*:\s*(?:true|yes|on|1|y)\b|^\s*local\s*:\s*(?!(?:false|no|off|0|n)\b)\S",
    re.I | re.M,
)


def looks_local(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether a profile that could not be used was meant for a local server or offline use (by name or text)."""
    raw = str(name_or_path)
    if _LOCAL_NAME.search(Path(raw).stem):
        return True
    try:
        path = resolve_profile(raw)
        with open(path, "rb") as handle:
            text = handle.read(PROFILE_SIZE_LIMIT).decode("utf-8", errors="replace")
    except (ProfileError, OSError):
        return False
    return bool(_LOCAL_TEXT.search(text))


def _refuse_hosted_fallback(name: str, problem: str) -> ProfileError:
    return ProfileError(
        f"{problem} This profile is for a local server or offline use, so oi-tui does not fall back to a hosted "
        "model: fix the profile, or pick a model with --model or another profile with --profile."
    )


def load_with_fallback(name: str | None, *, route_pinned: bool = False) -> tuple[ProfileResult, list[str]]:
    """Load `name` (default when None); if it fails, the default profile, then no profile; say what happened.

    A profile meant for a local server or offline use is never replaced by one that may send messages to a
    hosted model: that raises ProfileError instead, unless `route_pinned` (the model or endpoint comes from
    the command line anyway).
    """
    messages: list[str] = []
    wanted = name or DEFAULT_PROFILE
    try:
        result = load_profile(wanted)
        messages.extend(result.warnings)
        return result, messages
    except ProfileError as exc:
        if not route_pinned and looks_local(wanted):
            raise _refuse_hosted_fallback(str(wanted), exc.message) from None
        messages.append(exc.message)
    if Path(str(wanted)).stem != DEFAULT_PROFILE:
        try:
            result = load_profile(DEFAULT_PROFILE)
            messages.extend(result.warnings)
            messages.append(f"Using the default profile ({result.path}) instead.")
            return result, messages
        except ProfileError as exc:
            if not route_pinned and looks_local(DEFAULT_PROFILE):
                raise _refuse_hosted_fallback(DEFAULT_PROFILE, " ".join(messages + [exc.message])) from None
            messages.append(exc.message)
    shipped = SHIPPED_DIR / "default.yaml"
    if shipped.is_file():
        try:
            result = load_profile(shipped)
            messages.append(f"Using the built-in default profile ({shipped}) instead.")
            return result, messages
        except ProfileError:
            pass
    messages.append("Using the built-in default settings instead.")
    return ProfileResult(DEFAULT_PROFILE, None), messages


def _sticky(interpreter: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Start-up flags still in force: a switch without overrides keeps them."""
    return {} if overrides is not None else dict(getattr(interpreter, "session_overrides", None) or {})


def read_profile_for(
    interpreter: Any, name: str | None, overrides: dict[str, Any] | None = None
) -> tuple[Any, list[str]]:
    """Read and check profile `name` as `apply_profile` will use it: the disk and YAML part, fit for a thread."""
    pinned = {"llm.model", "llm.api_base"} & set({**_sticky(interpreter, overrides), **(overrides or {})})
    return load_with_fallback(name, route_pinned=bool(pinned))


def apply_profile(
    interpreter: Any, name: str | None = None, *, overrides: dict[str, Any] | None = None, reset: bool = True,
    read: tuple[Any, list[str]] | None = None,
) -> list[str]:
    """Switch `interpreter` to a profile (default when None) while keeping the conversation.

    Settings the profile does not mention go back to their defaults (unless ``reset=False``), then the
    profile's settings apply, then ``overrides`` (e.g. command-line flags). Those overrides are
    remembered: a later switch without overrides keeps them for every setting the new profile leaves out. Returns messages for the user
    (problems and fallbacks); an empty list means it loaded cleanly. ``interpreter.profile`` names the
    profile in effect afterwards. Raises ProfileError, changing nothing, when a local or offline profile
    cannot be used (see `load_with_fallback`). `read` is what `read_profile_for` returned, when the caller
    read the file off its event loop.
    """
    from .events import SettingsApplied
    from .settings import apply_setting

    # Flags given at start-up stay in force for settings a later profile does not mention.
    sticky = _sticky(interpreter, overrides)
    result, messages = read if read is not None else read_profile_for(interpreter, name, overrides)  # may refuse
    if overrides is not None:
        interpreter.session_overrides = dict(overrides)
    before = {key: _copy(value) for key, value in _snapshot(interpreter).items()}
    if reset:
        for key, value in {**default_values(), **sticky}.items():
            try:
                apply_setting(interpreter, key, value)
            except SettingsError:
                pass
    if result.python and result.path is not None:
        try:
            _exec_python_profile(result.path, interpreter)
        except ProfileError as exc:  # it ran fine a moment ago; report rather than crash
            messages.append(exc.message)
    else:
        for key, value in result.settings.items():
            try:
                apply_setting(interpreter, key, value)
            except SettingsError as exc:
                messages.append(f"{result.path}: {exc.message}")
    for key, value in (overrides or {}).items():
        try:
            apply_setting(interpreter, key, value)
        except SettingsError as exc:
            messages.append(exc.message)
    # a key typed in for this session (e.g. for a custom server) survives a switch that keeps the same endpoint
    previous_key = before.get("llm.api_key")
    if (
        previous_key
        and not interpreter.llm.api_key
        and interpreter.llm.api_base == before.get("llm.api_base")
        and _provider(interpreter.llm.model) == _provider(str(before.get("llm.model") or ""))
    ):
        interpreter.llm.api_key = previous_key
    interpreter.profile = result.name
    after = _snapshot(interpreter)
    changed = {key: value for key, value in after.items() if before.get(key) != value}
    if changed.get("llm.api_key"):
        from .secrets import mask

        changed["llm.api_key"] = mask(changed["llm.api_key"])  # never put a key where clients may show it
    bus = getattr(interpreter, "bus", None)
    if bus is not None:
        bus.publish(SettingsApplied(changed, result.name))
    return messages


def save_allow_rules(name: str | None, rules: list[dict[str, Any]]) -> Path:
    """Write `allow_rules` into the user's copy of profile `name`; the rest of the file stays as written."""
    import re

    import yaml

    from .conversations import atomic_write

    path = editable_profile(name)
    if path.suffix == ".py":
        raise ProfileError(f"{path} is a Python profile: add allow_rules to it yourself; nothing was saved.")
    kept: list[str] = []
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if re.match(r"allow_rules\s*:", line):
            inside = True
            continue
        if inside and (line[:1] in (" ", "\t", "-") or not line.strip()):
            continue  # the old rules (and blank lines among them)
        inside = False
        kept.append(line)
    text = "".join(kept).rstrip("\n") + "\n"
    if rules:
        text += "\n" + yaml.safe_dump({"allow_rules": rules}, sort_keys=False, default_flow_style=False)
    parse_yaml_profile(text, path)  # never write a profile that would not load
    atomic_write(path, text.encode("utf-8"))
    return path


def set_profile_values(name: str | None, values: dict[str, Any]) -> Path:
    """Write dotted settings into the user's copy of profile `name` (default when None), keeping the rest of
    the file (comments included) as written; returns the file. Raises ProfileError, writing nothing, when
    the file cannot be edited or would not load afterwards."""
    from .conversations import atomic_write

    path = editable_profile(name)
    if path.suffix == ".py":
        raise ProfileError(f"{path} is a Python profile: set {', '.join(values)} in it yourself; nothing was saved.")
    text = read_profile_text(path)
    for dotted, value in values.items():
        text = _with_value(text, canonical_path(dotted), value, path)
    parse_yaml_profile(text, path)  # never write a profile that would not load
    atomic_write(path, text.encode("utf-8"))
    return path


def _yaml_scalar(value: Any) -> str:
    import json

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a double-quoted YAML scalar


def _with_value(text: str, target: str, value: Any, path: Path) -> str:
    """`text` with every key that sets `target` given `value` (one edited line each), or one line added."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ProfileError(f"{path}: cannot be edited, it is not valid YAML ({exc}).") from None
    spans: list[tuple[int, int]] = []
    group_node: Any = None

    def visit(node: Any, prefix: str) -> None:
        nonlocal group_node
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            full = canonical_path(prefix + str(key_node.value))
            if full == target:
                if not isinstance(value_node, yaml.ScalarNode) or value_node.start_mark.line != value_node.end_mark.line:
                    raise ProfileError(f"{path}, line {key_node.start_mark.line + 1}: {prefix}{key_node.value} is not a "
                                       "one-line value, so it cannot be changed for you; edit the file instead.")
                spans.append((value_node.start_mark.index, value_node.end_mark.index))
            elif isinstance(value_node, yaml.MappingNode) and _is_group(full):
                if not prefix and target.startswith(full + ".") and value_node.flow_style is False and value_node.value:
                    group_node = value_node
                visit(value_node, full + ".")

    if isinstance(root, yaml.MappingNode):
        visit(root, "")
    elif root is not None:
        raise ProfileError(f"{path}: a profile must be a mapping of settings (key: value).")
    rendered = _yaml_scalar(value)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + rendered + text[end:]
    if spans:
        return text
    if group_node is not None:  # add it to the existing block (e.g. under `llm:`), after that block's first key
        first_key = group_node.value[0][0]
        indent = " " * first_key.start_mark.column
        line_start = text.rfind("\n", 0, first_key.start_mark.index) + 1
        leaf = target.rsplit(".", 1)[-1]
        return text[:line_start] + f"{indent}{leaf}: {rendered}\n" + text[line_start:]
    return text.rstrip("\n") + ("\n" if text.strip() else "") + f"{target}: {rendered}\n"


def _provider(model: str) -> str:
    from .secrets import provider_for

    return provider_for(model) if model else ""


def _snapshot(interpreter: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SETTINGS:
        if name in SESSION_SETTINGS:
            continue
        try:
            out[name] = interpreter.get_setting(name)
        except AttributeError:
            continue
    return out


__all__ = [
    "DEFAULT_PROFILE",
    "MODES",
    "ProfileError",
    "ProfileInfo",
    "ProfileResult",
    "apply_profile",
    "read_profile_for",
    "expand_modes",
    "list_profiles",
    "load_profile",
    "load_with_fallback",
    "parse_yaml_profile",
    "profile_dir",
    "resolve_profile",
    "editable_profile",
    "save_allow_rules",
    "set_profile_values",
    "shipped_profile_dir",
    "user_profile_dir",
]
