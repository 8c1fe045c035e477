"""Tool-call arguments as they stream: the language and the code, decoded from partial JSON."""

from __future__ import annotations

import json
import re

from .llm import EXECUTE_TOOL_NAME


def partial_json_string(raw: str, key: str) -> tuple[str | None, bool]:
    """The (possibly unfinished) string value of `key` in a JSON object still being streamed."""
    match = re.search(rf'"{key}"\s*:\s*"', raw)
    if not match:
        return None, False
    i = match.end()
    chars: list[str] = []
    while i < len(raw):
        ch = raw[i]
        if ch == '"':
            return _decode("".join(chars)), True
        if ch == "\\":
            if i + 1 >= len(raw):
                break
            if raw[i + 1] == "u":
                if i + 6 > len(raw):
                    break
                chars.append(raw[i : i + 6])
                i += 6
                continue
            chars.append(raw[i : i + 2])
            i += 2
            continue
        chars.append(ch)
        i += 1
    return _decode("".join(chars)), False


def _decode(raw: str) -> str:
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return raw.encode("utf-8", "replace").decode("unicode_escape", "replace")


class ToolCall:
    """One streamed tool call: its name and the JSON arguments received so far."""

    def __init__(self) -> None:
        self.name = ""
        self.arguments = ""
        self.language: str | None = None
        self.emitted = 0  # characters of code already streamed

    def code_so_far(self) -> str:
        if self.name and self.name != EXECUTE_TOOL_NAME and not self.arguments.lstrip().startswith("{"):
            self.language = self.name  # some models call the language itself, with raw code
            return self.arguments
        if self.language is None:
            language, complete = partial_json_string(self.arguments, "language")
            if complete:
                self.language = language
        code, _ = partial_json_string(self.arguments, "code")
        return code or ""

    def finish(self) -> tuple[str, str]:
        try:
            args = json.loads(self.arguments or "{}")
            if isinstance(args, dict) and "code" in args:
                return str(args.get("language") or "python"), str(args["code"])
        except json.JSONDecodeError:
            pass
        code = self.code_so_far()
        return self.language or "python", code
