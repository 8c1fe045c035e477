"""The default system message (our own wording) and the live facts appended to it on every request."""

from __future__ import annotations

import getpass
import os
import platform
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

DEFAULT_SYSTEM_MESSAGE = """\
You are a capable programmer working directly on the user's computer through a code runner.
Solve the user's task by writing code, running it, reading the output and continuing until the task is done.
- The user sees every code block and approves it before it runs; keep each block small and focused.
- State lives on between runs: Python variables, the shell's working directory and environment.
- You have full access to the machine and the internet (if it is connected); install packages if needed.
- When something fails, read the error, explain briefly, and try a different approach.
- Answer in Markdown. Be brief: show results, not plans.
"""


def build_system_message(interpreter: "OpenInterpreter") -> str:
    """System message + instructions + facts about this machine (languages, OS, cwd, date)."""
    parts = [interpreter.system_message.strip()]
    if interpreter.custom_instructions:
        parts.append(interpreter.custom_instructions.strip())
    if not interpreter.llm.uses_functions() and interpreter.llm.execution_instructions:
        parts.append(interpreter.llm.execution_instructions.strip())
    terminal = interpreter.computer.terminal
    available = terminal.available_languages()
    missing = [n for n in terminal.language_names() if n not in available]
    facts = [
        f"Languages you can run here: {', '.join(available) or 'none'}.",
        f"Operating system: {platform.system()} {platform.release()}; user: {_user()}; "
        f"working directory: {os.getcwd()}; today: {date.today().isoformat()}.",
    ]
    if missing:
        facts.append(f"Not installed here (do not use): {', '.join(missing)}.")
    parts.append("\n".join(facts))
    if interpreter.os or interpreter.computer.import_computer_api:
        from .computer.api_docs import describe_computer_api

        parts.append(describe_computer_api(interpreter.computer))
    return "\n\n".join(p for p in parts if p)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
