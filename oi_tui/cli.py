"""`oi-tui`: the command line. Flags override the profile, which overrides the defaults.

This module must stay cheap to import: `--help` and `--version` never load textual or litellm.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = {"true", "yes", "on", "1", "y"}
FALSE_WORDS = {"false", "no", "off", "0", "n"}


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional_number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if str(text).strip().lower() in ("none", "null", "auto"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


@dataclass(frozen=True)
class Flag:
    """One command-line option that sets one setting."""

    names: tuple[str, ...]
    path: str  # dotted setting path
    kind: str  # "str", "int", "float", "bool", "choice"
    help: str
    group: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None


MODE_FLAGS: list[tuple[tuple[str, ...], str, str]] = [
    (("--vision", "-vi"), "vision", "vision mode: a model that sees images (gpt-4o); plots and screenshots reach it"),
    (("--os", "-o"), "os", "OS mode: the model sees the screen and drives mouse and keyboard (experimental)"),
    (("--fast", "-f"), "fast", "a quick, inexpensive model (gpt-4o-mini)"),
    (("--local", "-l"), "local", "choose a model from the servers running here (Ollama, LM Studio, Jan, llamafile); "
     "with --plain: a server at http://localhost:1234/v1"),
]

FLAGS: list[Flag] = [
    # Model
    Flag(("--model", "-m"), "llm.model", "str", "model name as litellm knows it (gpt-4o, ollama/llama3, openai/<name>)", "model", "MODEL"),
    Flag(("--temperature", "-t"), "llm.temperature", "float", "sampling temperature (0 = most predictable)", "model", "T"),
    Flag(("--context_window", "-c"), "llm.context_window", "int", "tokens the model accepts; older messages are trimmed to fit", "model", "TOKENS"),
    Flag(("--max_tokens", "-x"), "llm.max_tokens", "int", "most tokens the model may write per reply", "model", "TOKENS"),
    Flag(("--max_output", "-xo"), "llm.max_output", "int", "characters of code output sent back to the model", "model", "CHARS"),
    Flag(("--api_base", "-ab"), "llm.api_base", "str", "URL of the API, e.g. http://localhost:1234/v1", "model", "URL"),
    Flag(("--api_key", "-ak"), "llm.api_key", "str", "API key for this run (better: --set-key, or the provider's env variable)", "model", "KEY"),
    Flag(("--api_version", "-av"), "llm.api_version", "str", "API version (Azure)", "model", "VERSION"),
    Flag(("--llm_supports_functions", "-lsf"), "llm.supports_functions", "bool", "the model supports function calling", "model"),
    Flag(("--llm_supports_vision", "-lsv"), "llm.supports_vision", "bool", "the model accepts images", "model"),
    # Configuration
    Flag(("--custom_instructions", "-ci"), "custom_instructions", "str", "text appended to the system message", "config", "TEXT"),
    Flag(("--system_message", "-s"), "system_message", "str", "replace the system message (prefer --custom_instructions)", "config", "TEXT"),
    # Options
    Flag(("--safe_mode", "-safe"), "safe_mode", "choice", "off, ask or auto: scan code with semgrep before you approve it (ask: on request, auto: every block); ask and auto always ask, even with -y", "options", "MODE", ("off", "ask", "auto")),
    Flag(("--auto_run", "-y"), "auto_run", "bool", "run code without asking for approval", "options"),
    Flag(("--loop",), "loop", "bool", "keep the model working until it says the task is done or impossible", "options"),
    Flag(("--verbose", "-v"), "verbose", "bool", "show debugging details", "options"),
    Flag(("--debug",), "debug", "bool", "show debugging details", "options"),
    Flag(("--max_budget", "-b"), "max_budget", "float", "most USD to spend in this session", "options", "USD"),
    Flag(("--speak_messages", "-sm"), "speak_messages", "bool", "speak replies aloud (where supported)", "options"),
    Flag(("--multi_line", "-ml"), "multi_line", "bool", "multi-line input", "options"),
    Flag(("--offline",), "offline", "bool", "disable features that need the internet", "options"),
    Flag(("--disable_telemetry",), "disable_telemetry", "bool", "accepted for compatibility: oi-tui never sends telemetry", "options"),
]

GROUPS = {
    "modes": "modes",
    "model": "model settings",
    "config": "configuration",
    "options": "options",
    "app": "oi-tui",
    "other": "other",
}

EPILOG = """\
On/off options may be followed by true or false (`--offline false`); alone they mean true.
Flags override the profile, which overrides the defaults. Profiles are YAML files in the folder
`oi-tui --profiles` shows; `default.yaml` is used unless --profile names another.
Examples:
  oi-tui --model gpt-4o-mini
  oi-tui --local                                   # pick a model from Ollama, LM Studio, Jan, llamafile
  oi-tui --model ollama/llama3.2                   # checked on OLLAMA_HOST (offered for download if missing)
  oi-tui --api_base http://localhost:8000/v1 --model openai/my-model
  oi-tui --set-key anthropic                       # store a key in the system keyring
  printf 'list the files here\\n' | oi-tui --plain -y
"""


def _dest(flag: Flag) -> str:
    return flag.names[0].lstrip("-").replace("-", "_")


def _display(names: tuple[str, ...]) -> tuple[str, ...]:
    """Short form first in --help ("-m, --model MODEL")."""
    return tuple(sorted(names, key=lambda name: name.startswith("--")))


def build_parser() -> argparse.ArgumentParser:
    from oi_core import __version__

    parser = argparse.ArgumentParser(
        prog="oi-tui",
        description="A terminal app that lets a language model run code on your computer, with you approving every step.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="oi-tui [options]",
        allow_abbrev=False,
        add_help=False,
    )
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    for names, mode, help_text in MODE_FLAGS:
        groups["modes"].add_argument(*_display(names), dest=f"mode_{mode}", action="store_true", help=help_text)
    for flag in FLAGS:
        group = groups[flag.group]
        dest = _dest(flag)
        if flag.kind == "bool":
            group.add_argument(
                *_display(flag.names), dest=dest, nargs="?", const=True, default=None, type=_bool, metavar="BOOL",
                help=flag.help,
            )
            if flag.path.startswith("llm.supports_"):
                group.add_argument(
                    "--no-" + flag.names[0].lstrip("-"), dest=dest, action="store_const", const=False,
                    help=f"the model does not support {'function calling' if 'functions' in flag.path else 'images'}",
                )
        else:
            kind = {"str": str, "int": _optional_number(int), "float": _optional_number(float), "choice": str}[flag.kind]
            group.add_argument(
                *_display(flag.names), dest=dest, type=kind, default=None, metavar=flag.metavar, choices=flag.choices, help=flag.help
            )
    config = groups["config"]
    config.add_argument("-p", "--profile", metavar="NAME", help="profile to load: a name (fast, local ...) or a path")
    config.add_argument("--profiles", action="store_true", help="show (and open) the folder with your profiles, and list them")
    config.add_argument("--local_models", action="store_true", help="show the folder for local model files")
    app = groups["app"]
    app.add_argument("--conversations", action="store_true", help="start in the conversation navigator to resume one")
    app.add_argument("--plain", action="store_true", help="line mode for pipes and scripts: messages from stdin, plain text out")
    app.add_argument("--set-key", dest="set_key", metavar="PROVIDER", help="store an API key for PROVIDER (openai, anthropic ...) in the system keyring")
    from oi_tui.remote_cli import add_arguments as add_remote_arguments  # --server, --connect (stdlib only)

    add_remote_arguments(parser)
    other = groups["other"]
    other.add_argument("--version", action="version", version=f"oi-tui {__version__}")
    other.add_argument("-h", "--help", action="help", help="show this help and exit")
    return parser


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted setting path -> value for every flag given, modes first so explicit flags win."""
    from oi_core.profiles import expand_modes

    modes = [mode for _, mode, _ in MODE_FLAGS if getattr(args, f"mode_{mode}", False)]
    settings = expand_modes(modes)
    for flag in FLAGS:
        value = getattr(args, _dest(flag), None)
        if value is not None:
            settings[flag.path] = value
    return settings


# ---------------------------------------------------------------- one-shot commands


def _show_profiles(out: Any) -> int:
    from oi_core.profiles import list_profiles, profile_dir

    folder = profile_dir()
    print(folder, file=out)
    for info in list_profiles():
        print(f"  {info.name:<12} {info.source:<8} {info.path}", file=out)
    if out.isatty() and not os.environ.get("OI_TUI_NO_OPEN"):
        _open_folder(str(folder))
    return 0


def _open_folder(path: str) -> None:
    import shutil
    import subprocess

    try:
        if sys.platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined]
            return
        opener = "open" if sys.platform == "darwin" else "xdg-open"
        if shutil.which(opener) and (sys.platform == "darwin" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            subprocess.Popen([opener, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        pass


def _local_models(out: Any) -> int:
    from pathlib import Path

    import platformdirs

    folder = Path(platformdirs.user_data_dir("oi-tui", appauthor=False)) / "models"
    folder.mkdir(parents=True, exist_ok=True)
    print(folder, file=out)
    print("oi-tui talks to local models through a server (LM Studio, Ollama, llama.cpp): see --local and "
          "the local and ollama profiles.", file=out)
    return 0


def _set_key(provider: str, stdin: Any, out: Any, err: Any) -> int:
    """Store a key in the system keyring; without a working keyring, fail and say what to install."""
    from oi_core.errors import OiError
    from oi_core.secrets import KEYRING_HELP, check_provider, env_var_for, keyring_status, store_api_key

    try:
        provider = check_provider(provider)
    except OiError as exc:
        print(f"oi-tui: {exc.message}", file=err)
        return 2
    usable, detail = keyring_status()
    if not usable:
        print(f"oi-tui: cannot store the {provider} API key: {detail}; {KEYRING_HELP}, "
              f"or set {env_var_for(provider)} in your environment instead.", file=err)
        return 1
    try:
        if stdin.isatty():
            import getpass

            key = getpass.getpass(f"API key for {provider} (input hidden): ")
        else:
            key = stdin.readline()
    except (EOFError, KeyboardInterrupt):
        print("oi-tui: no key entered; nothing was stored.", file=err)
        return 1
    try:
        message = store_api_key(provider, key, session_fallback=False)
    except OiError as exc:
        print(f"oi-tui: {exc.message}", file=err)
        return 1
    print(message, file=out)
    if os.environ.get(env_var_for(provider)):
        print(f"Note: {env_var_for(provider)} is set in your environment and takes precedence.", file=out)
    return 0


# ---------------------------------------------------------------- main


def make_interpreter(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """An interpreter configured from the profile and the flags, plus messages about the profile."""
    from oi_core.open_interpreter import OpenInterpreter
    from oi_core.profiles import apply_profile

    interpreter = OpenInterpreter()
    warnings = apply_profile(interpreter, args.profile, overrides=settings_from_args(args))
    interpreter.in_terminal_interface = True
    return interpreter, warnings


def _local_start(args: argparse.Namespace | None, interpreter: Any) -> Any:
    """What the TUI does once it is up for a local model: `--local` opens the picker, an Ollama model is checked."""
    from oi_core.model_names import is_ollama_model

    if args is not None and args.mode_local and args.model is None:
        from functools import partial

        from oi_tui.screens.local_models import open_local_models

        # flags given with --local win over the picked model's numbers; --api_base is probed as one more server
        keep = {path: value for path, value in _explicit_settings(args).items() if path not in ("llm.model", "llm.api_base")}
        return partial(open_local_models, extra_urls=[args.api_base] if args.api_base else [], keep=keep)
    if is_ollama_model(str(interpreter.llm.model or "")):
        from oi_tui.screens.local_models import check_local_model

        return check_local_model
    return None


def _explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given by their own flags (a mode flag such as --local is not one)."""
    return {flag.path: getattr(args, _dest(flag)) for flag in FLAGS if getattr(args, _dest(flag), None) is not None}


def _start_tui(interpreter: Any, start_in_conversations: bool, warnings: list[str],
               args: argparse.Namespace | None = None) -> int:
    """Run the app here (main() has already forked the terminal guard, before the heavy imports)."""
    from oi_tui.app import OiApp

    global _tui_ran
    app = OiApp(interpreter, start_in_conversations=start_in_conversations, startup_warnings=list(warnings),
                on_ready=_local_start(args, interpreter))
    app.run()
    _tui_ran = True
    return app.return_code or 0


_tui_ran = False


def entry() -> None:
    """The console script: like main(), but a closed TUI leaves at once.

    By the time the app returns, the session is closed (kernels shut down, conversation saved), so
    the second or so that interpreter finalisation spends tearing down litellm and friends is skipped.
    """
    code = main()
    if _tui_ran:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.profiles:
        return _show_profiles(sys.stdout)
    if args.local_models:
        return _local_models(sys.stdout)
    if args.set_key and args.set_key.startswith(("ws://", "wss://")):
        from oi_tui.remote_cli import set_server_key

        return set_server_key(args.set_key, sys.stdin, sys.stdout, sys.stderr)
    if args.set_key:
        return _set_key(args.set_key, sys.stdin, sys.stdout, sys.stderr)
    if args.connect:
        from oi_tui.remote_cli import run_connect

        given = [flag.names[0] for flag in FLAGS if getattr(args, _dest(flag), None) is not None]
        return run_connect(args, given + (["--profile"] if args.profile else []))
    if args.server:
        from oi_tui.remote_cli import run_server

        return run_server(args, lambda: make_interpreter(args))
    if args.plain:
        return _run(args)
    # The terminal guard forks while this process is still small: forked later, with Textual and the core
    # imported, the app paid for every page it then wrote (copy-on-write), 10-80 ms of the launch.
    from oi_tui.terminal_guard import run_guarded

    global _tui_ran
    code = run_guarded(lambda: _run(args))
    _tui_ran = True
    return code


def _run(args: argparse.Namespace) -> int:
    """Plain mode or the TUI, once the interpreter is configured (in the guarded child, for the TUI)."""
    from oi_core.errors import OiError

    if not args.plain:
        from oi_tui.gc_policy import pause_until_first_frame

        pause_until_first_frame()  # the app's garbage-collection policy takes over after the first frame
    try:
        interpreter, warnings = make_interpreter(args)
    except OiError as exc:  # e.g. a local/offline profile that cannot be used: never fall back to a hosted model
        print(f"oi-tui: {exc.message}", file=sys.stderr)
        return 2
    if args.plain:
        from oi_core.approval import startup_notices
        from oi_tui.local_plain import prepare_local_model
        from oi_tui.plain import run_plain

        stopped = prepare_local_model(interpreter, stdin=sys.stdin, stderr=sys.stderr, interactive=_is_terminal(sys.stdin))
        if stopped is not None:
            return stopped

        return run_plain(interpreter, warnings=warnings + startup_notices(interpreter))
    return _start_tui(interpreter, args.conversations, warnings, args)


if __name__ == "__main__":
    entry()
