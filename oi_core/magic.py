"""Magic commands: `%`-prefixed lines the user types instead of a message (the TUI and plain mode share them).

`run_magic(session, text)` returns text to show the user (or None) and raises OiError for mistakes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import difflib
import json
import logging
import platform
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import OiError

log = logging.getLogger("oi_core.magic")

HELP: dict[str, str] = {
    "%": "%% <command>  run a command in the system shell",
    "verbose": "%verbose [true/false]  turn verbose mode on (no argument or true) or off (false)",
    "reset": "%reset  start the conversation over",
    "undo": "%undo  remove your last message and everything after it, and put back the files its code changed",
    "rewind": "%rewind [N] [replay]  list the points to rewind to, or go back to message N (files too; replay: rebuild Python)",
    "save_message": "%save_message [path]  save the messages as JSON (default messages.json)",
    "load_message": "%load_message [path]  load messages from JSON (default messages.json)",
    "tokens": "%tokens [prompt]  tokens and estimated cost of the next request (plus an optional prompt)",
    "info": "%info  system and session information",
    "help": "%help  this list",
    "jupyter": "%jupyter [path]  export the conversation as a Jupyter notebook (default: Downloads folder)",
    "markdown": "%markdown [path]  export the conversation as Markdown (default: Downloads folder)",
}

COMMANDS = [name for name in HELP if name != "%"]

Handler = Callable[[Any, str], Awaitable[str | None]]


async def run_magic_turn(session: Any, text: str) -> None:
    """Run a magic command as the session's turn: busy while it runs, so Esc stops it, quit asks first and a
    message sent meanwhile waits; its output or its failure always reaches the user."""
    from .events import ErrorRaised, InfoShown

    interp = _interp(session)
    bus = interp.bus
    name = text.split()[0] if text.split() else text
    interp.set_status("running" if text.startswith("%%") else "thinking", name)
    try:
        shown = await run_magic(session, text)
    except asyncio.CancelledError:
        bus.publish(InfoShown(f"{name} was stopped."))
        raise
    except OiError as exc:
        bus.publish(ErrorRaised(exc.kind, exc.message))
        return
    except Exception as exc:  # a bug of ours: one sentence for the user, the traceback for the log
        log.exception("magic command %s failed", name)
        bus.publish(ErrorRaised("internal", f"{name} failed inside oi-tui ({type(exc).__name__}: {exc})."))
        return
    finally:
        interp.set_status("idle")
    if shown:
        bus.publish(InfoShown(shown))


async def run_magic(session: Any, text: str) -> str | None:
    """Run one magic command line ("%reset", "%% ls", "%tokens hello") against a Session."""
    line = text.strip()
    if not line.startswith("%"):
        raise OiError(f"{line!r} is not a magic command; they start with %. Type %help for the list.")
    if line.startswith("%%"):
        return await _shell(session, line[2:].strip())
    body = line[1:]
    name, _, argument = body.partition(" ")
    name = name.strip().lower()
    argument = argument.strip()
    handler = _HANDLERS.get(name)
    if handler is None:
        raise OiError(_unknown_message(name))
    return await handler(session, argument)


def _unknown_message(name: str) -> str:
    if not name:
        return "A lone % is not a command. Type %help for the list."
    close = difflib.get_close_matches(name, COMMANDS, n=2, cutoff=0.5)
    if close:
        options = " or ".join(f"%{c}" for c in close)
        return f"Unknown command %{name}. Did you mean {options}? Type %help for the list."
    return f"Unknown command %{name}. Type %help for the list."


def _interp(session: Any) -> Any:
    return getattr(session, "interpreter", session)


# ---------------------------------------------------------------- commands


async def _shell(session: Any, command: str) -> str:
    if not command:
        raise OiError("Nothing to run: write the shell command after %%, e.g. %% ls.")
    interp = _interp(session)
    parts: list[str] = []
    async for chunk in interp.computer.arun("shell", command):
        if chunk.get("type") == "console" and chunk.get("format") == "output":
            parts.append(str(chunk.get("content") or ""))
    output = "".join(parts).rstrip("\n")
    return output or "(no output)"


async def _verbose(session: Any, argument: str) -> str:
    interp = _interp(session)
    value = argument.lower()
    if value in ("", "true", "on", "yes", "1"):
        on = True
    elif value in ("false", "off", "no", "0"):
        on = False
    else:
        raise OiError(f"%verbose takes true or false, not {argument!r}.")
    interp.verbose = on
    return "Verbose mode on." if on else "Verbose mode off."


async def _reset(session: Any, argument: str) -> str:
    interp = _interp(session)  # a magic command only starts when nothing else runs: nothing to stop first
    await interp.areset()
    return "The conversation was reset."


async def _undo(session: Any, argument: str) -> str:
    interp = _interp(session)
    messages = interp.messages
    last_user = max(
        (i for i, m in enumerate(messages) if m.get("role") == "user" and m.get("type", "message") == "message"),
        default=None,
    )
    if last_user is None:
        return "Nothing to undo."
    # the user's message may have come with images: they belong to the same turn
    start = last_user
    while start > 0 and messages[start - 1].get("role") == "user" and messages[start - 1].get("type") == "image":
        start -= 1
    removed = len(messages) - start
    result = await interp.run_checkpoints.rewind(start, fork=False)  # also puts back the files its runs changed
    text = f"Removed your last message and {removed - 1} message(s) after it."
    if not result.runs and not result.without_checkpoint:
        return text
    put_back = len(result.written) + len(result.removed)
    return "\n".join([f"{text} {put_back} file(s) its code changed were put back.", *result.details()])


async def _rewind(session: Any, argument: str) -> str:
    from .checkpoints import rewind_points

    interp = _interp(session)
    words = argument.split()
    replay = "replay" in [w.lower().lstrip("-") for w in words[1:]]
    if not words:
        return rewind_points(interp.messages)
    try:
        index = int(words[0])
    except ValueError:
        raise OiError(f"%rewind takes a message number, not {words[0]!r}; type %rewind to list them.") from None
    result = await interp.arewind(index, replay_kernel=replay)
    return result.describe()


def _path(argument: str, default: str) -> Path:
    raw = argument.strip().strip("'\"") or default
    return Path(raw).expanduser()


async def _write_off_loop(path: Path, write: Callable[[Path], Any], failure: str) -> None:
    """Create the folder and write `path` in a thread; a disk error becomes one sentence."""

    def run() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)

    try:
        await asyncio.to_thread(run)
    except OSError as exc:
        raise OiError(f"{failure} {path}: {exc.strerror or exc}.") from exc


def _json_target(path: Path) -> Path:
    """Where `%save_message PATH` writes: into PATH when it is a folder ("." included), else PATH as .json."""
    if path.is_dir():
        return path / "messages.json"
    return path if path.suffix else path.with_name(path.name + ".json")


async def _save_message(session: Any, argument: str) -> str:
    interp = _interp(session)
    path = await asyncio.to_thread(_json_target, _path(argument, "messages.json"))
    messages = list(interp.messages)

    def write(target: Path) -> None:
        from .secrets import redact

        text = json.dumps(messages, indent=2, ensure_ascii=False, default=str)
        target.write_text(redact(text, interp), encoding="utf-8")

    await _write_off_loop(path, write, "Could not save the messages to")
    return f"Saved {len(messages)} messages to {path}."


async def _load_message(session: Any, argument: str) -> str:
    interp = _interp(session)
    path = _path(argument, "messages.json")

    def read() -> Any:
        nonlocal path
        if not path.exists() and not path.suffix and path.with_suffix(".json").exists():
            path = path.with_suffix(".json")
        return json.loads(path.read_text(encoding="utf-8"))

    try:
        data = await asyncio.to_thread(read)
    except FileNotFoundError as exc:
        raise OiError(f"No file {path}: give the path of a file saved with %save_message.") from exc
    except OSError as exc:
        raise OiError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    except json.JSONDecodeError as exc:
        raise OiError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
    if not isinstance(data, list) or not all(isinstance(m, dict) and "role" in m for m in data):
        raise OiError(f"{path} does not hold a list of messages (each an object with a role).")
    interp.load_messages(data)
    return f"Loaded {len(data)} messages from {path}."


async def _tokens(session: Any, argument: str) -> str:
    interp = _interp(session)

    def count() -> tuple[int, int]:
        from .convert import to_llm_messages
        from .system_message import build_system_message

        request = to_llm_messages(interp, build_system_message(interp))
        conversation = interp.llm.count_tokens(request)
        prompt = interp.llm.count_tokens([{"role": "user", "content": argument}]) if argument else 0
        return conversation, prompt

    conversation, prompt = await asyncio.to_thread(count)
    model = interp.llm.model
    lines = [f"Next request to {model}: {conversation} tokens (system message and conversation)."]
    total = conversation
    if argument:
        total += prompt
        lines.append(f"Your prompt: {prompt} tokens; together {total} tokens.")
    cost = await asyncio.to_thread(interp.llm.cost, total, 0)
    if cost:
        lines.append(f"Estimated input cost: ${cost:.6f}.")
    else:
        lines.append(f"No price known for {model}: cost not estimated.")
    return "\n".join(lines)


async def _info(session: Any, argument: str) -> str:
    return await asyncio.to_thread(_info_text, _interp(session))


def _info_text(interp: Any) -> str:
    """The %info table; built in a thread because it reads the keyring and litellm's model data."""
    llm = interp.llm
    from . import __version__
    from .secrets import key_source, mask

    try:
        window = llm.effective_context_window()
    except Exception:
        window = llm.context_window
    key = llm.resolved_api_key() if hasattr(llm, "resolved_api_key") else llm.api_key
    rows = [
        ("oi-tui", __version__),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("System", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Profile", interp.profile or "(none)"),
        ("Model", llm.model),
        ("API base", llm.api_base or "(provider default)"),
        ("API key", f"{mask(key) if key else '(not set)'} from {key_source(llm.model, llm.api_key)}"),
        ("API version", llm.api_version or "(default)"),
        ("Context window", window),
        ("Max tokens", llm.max_tokens or "(model default)"),
        ("Temperature", llm.temperature),
        ("Function calling", "on" if llm.supports_functions else "off" if llm.supports_functions is False else "auto"),
        ("Vision", "on" if llm.supports_vision else "off" if llm.supports_vision is False else "auto"),
        ("Auto run", interp.auto_run),
        ("Loop", interp.loop),
        ("OS mode", interp.os),
        ("Offline", interp.offline),
        ("Verbose", interp.verbose),
        ("Max budget", f"${interp.max_budget}" if interp.max_budget else "(none)"),
        ("Messages", len(interp.messages)),
        ("Spent", f"${interp.total_cost:.4f}"),
        ("Conversation", interp.conversation_id),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


async def _help(session: Any, argument: str) -> str:
    return "Magic commands:\n" + "\n".join(f"  {line}" for line in HELP.values())


def downloads_dir() -> Path:
    """The user's Downloads folder (created if missing)."""
    import platformdirs

    path = Path(platformdirs.user_downloads_dir())
    path.mkdir(parents=True, exist_ok=True)
    return path


def conversation_title(interp: Any) -> str:
    first = next(
        (str(m.get("content") or "") for m in interp.messages if m.get("role") == "user" and m.get("type") == "message"),
        "",
    )
    words = re.sub(r"[^\w\s-]", "", first).split()[:6]
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return ("_".join(words) or "conversation") + "_" + stamp


def _export_path(argument: str, interp: Any, suffix: str) -> Path:
    if argument:
        path = _path(argument, "")
        if path.is_dir():
            path = path / (conversation_title(interp) + suffix)
        elif path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        return path
    return downloads_dir() / (conversation_title(interp) + suffix)


async def _markdown(session: Any, argument: str) -> str:
    interp = _interp(session)
    path = await asyncio.to_thread(_export_path, argument, interp, ".md")
    messages = list(interp.messages)

    def write(target: Path) -> None:
        from .conversation_export import to_markdown  # the one exporter (it redacts keys)
        from .conversation_text import title_for

        target.write_text(to_markdown(messages, title_for(messages), interpreter=interp), encoding="utf-8")

    await _write_off_loop(path, write, "Could not write")
    return f"Exported the conversation to {path}."


async def _jupyter(session: Any, argument: str) -> str:
    interp = _interp(session)
    path = await asyncio.to_thread(_export_path, argument, interp, ".ipynb")

    messages = list(interp.messages)

    def write(target: Path) -> None:
        import nbformat

        from .conversation_export import to_notebook
        from .conversation_text import title_for

        nbformat.write(to_notebook(messages, title_for(messages)), str(target))

    await _write_off_loop(path, write, "Could not write")
    return f"Exported the conversation to the notebook {path}."


_HANDLERS: dict[str, Handler] = {
    "verbose": _verbose,
    "reset": _reset,
    "undo": _undo,
    "rewind": _rewind,
    "save_message": _save_message,
    "load_message": _load_message,
    "tokens": _tokens,
    "info": _info,
    "help": _help,
    "jupyter": _jupyter,
    "markdown": _markdown,
}
