"""Allow rules: scoped "always allow" rules, stored in the profile, that let matching code run unasked.

Kinds
- "command-prefix" (shell only): every command in the block starts with the rule's words, e.g. `ls` or
  `git status`. Words match whole (`ls` does not match `lsblk`). The block must consist of simple commands
  only, one per line: any `;`, `&`, `|`, `&&`, `||`, redirection (`>`, `<`, `2>`), `$(`, backquote,
  process substitution, line continuation, control character or unbalanced quote anywhere means no
  match, so `ls; rm -rf ~`, `ls && curl x | sh`, `ls $(rm -rf ~)` and `ls > ~/.bashrc` are never allowed by
  an `ls` rule. Blank lines and whole-line comments are ignored.
- "no-risk-marks": a block in the rule's language with no risk marks at all (oi_core.safety.risk).

Precedence (the first that applies decides)
1. The core asks no rule about code cut off by the token limit (it always waits for the user).
2. A safe-mode scan with findings, a failed scan, one still running, or one that could not run (semgrep
   missing while safe mode is on): no rule applies, so turning safe mode on never lets code through unscanned.
3. Any high-risk mark on the block: no rule applies.
4. Otherwise the rules are tried in order and the first that matches allows the block.
A rule can only spare the user a question; it never overrides a finding or a high-risk mark.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .lexing import canonical_language
from .types import RiskMark, ScanResult

KINDS = ("command-prefix", "no-risk-marks")
KEYS = ("language", "kind", "pattern", "note")
_LANGUAGE_NAMES = {"python": "Python", "shell": "shell", "javascript": "JavaScript"}
_PREFIX = re.compile(r"[A-Za-z0-9_./:=@+,%-]+(?: [A-Za-z0-9_./:=@+,%-]+)*")
_NEVER_SIMPLE = ("`", "$(", "<(", ">(", "\\\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_OPERATOR_CHARS = frozenset("();<>|&")
_BLOCKING_SCANS = frozenset({"findings", "failed", "scanning", "not_scanned"})


@dataclass(frozen=True)
class AllowRule:
    """One rule: which language, what kind of match, its pattern (command-prefix words), and a note."""

    language: str  # canonical: "python", "shell" or "javascript"
    kind: str  # one of KINDS
    pattern: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"language": self.language, "kind": self.kind}
        if self.pattern:
            data["pattern"] = self.pattern
        if self.note:
            data["note"] = self.note
        return data


def _parse_one(index: int, item: Any) -> tuple[AllowRule | None, str]:
    label = f"allow rule {index}"
    if not isinstance(item, dict):
        return None, f"{label} must be a mapping with language, kind and pattern, got {item!r}."
    unknown = [key for key in item if key not in KEYS]
    if unknown:
        return None, f"{label} has an unknown key {unknown[0]!r}; the keys are language, kind, pattern and note."
    language = canonical_language(str(item.get("language") or ""))
    if language is None:
        return None, f"{label}: language must be python, shell or javascript, got {item.get('language')!r}."
    kind = str(item.get("kind") or "").strip().lower()
    if kind not in KINDS:
        return None, f"{label}: kind must be command-prefix or no-risk-marks, got {item.get('kind')!r}."
    pattern = " ".join(str(item.get("pattern") or "").split())
    note = str(item.get("note") or "").strip()
    if kind == "command-prefix":
        if language != "shell":
            return None, f"{label}: command-prefix rules are for shell, not {language}."
        if not pattern:
            return None, f"{label}: a command-prefix rule needs a pattern, the words commands start with (e.g. 'git status')."
        if not _PREFIX.fullmatch(pattern):
            return None, (f"{label}: the pattern {pattern!r} must be plain command words, without quotes, "
                          "operators or redirections.")
    elif pattern:
        return None, f"{label}: a no-risk-marks rule takes no pattern, got {pattern!r}."
    return AllowRule(language, kind, pattern, note), ""


def parse_rules(data: Any) -> tuple[tuple[AllowRule, ...], tuple[str, ...]]:
    """Rules from profile data (a list of mappings), and one sentence per bad entry; duplicates are dropped."""
    if data is None:
        return (), ()
    if not isinstance(data, (list, tuple)):
        return (), (f"allow_rules must be a list of rules, got {type(data).__name__}.",)
    rules: dict[AllowRule, None] = {}
    problems: list[str] = []
    for index, item in enumerate(data, start=1):
        rule, problem = _parse_one(index, item)
        if rule is None:
            problems.append(problem)
        else:
            rules.setdefault(rule, None)
    return tuple(rules), tuple(problems)


def simple_commands(code: str) -> list[list[str]] | None:
    """The words of each command in a shell block, or None unless every line is one simple command."""
    if any(marker in code for marker in _NEVER_SIMPLE) or _CONTROL.search(code):
        return None
    commands: list[list[str]] = []
    for line in code.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lexer = shlex.shlex(stripped, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            words = list(lexer)
        except ValueError:  # an unbalanced quote
            return None
        if not words or any(word and set(word) <= _OPERATOR_CHARS for word in words):
            return None
        commands.append(words)
    return commands or None


def _starts_with(words: Sequence[str], prefix: str) -> bool:
    wanted = prefix.split()
    return len(words) >= len(wanted) and list(words[: len(wanted)]) == wanted


def matches(rule: AllowRule, language: str, code: str, marks: Iterable[RiskMark]) -> bool:
    """Whether `rule` covers this block (ignoring scans and risk levels; see `first_match`)."""
    if canonical_language(language) != rule.language:
        return False
    if rule.kind == "no-risk-marks":
        return not tuple(marks) and bool(code.strip())
    commands = simple_commands(code)
    return commands is not None and all(_starts_with(words, rule.pattern) for words in commands)


def blocked(marks: Iterable[RiskMark], scan: ScanResult | None) -> str:
    """Why no rule may apply to this block ("" when rules may apply)."""
    if scan is not None and (scan.findings or scan.status in _BLOCKING_SCANS):
        if scan.findings or scan.status == "findings":
            return "the safe-mode scan has findings"
        return {"failed": "the safe-mode scan failed", "not_scanned": "safe mode is on but the code could not be scanned"}.get(
            scan.status, "the safe-mode scan is still running")
    if any(mark.level == "high" for mark in marks):
        return "the code has high-risk lines"
    return ""


def first_match(rules: Iterable[AllowRule], language: str, code: str, marks: Iterable[RiskMark],
                scan: ScanResult | None) -> AllowRule | None:
    """The first rule that lets this block run unasked, or None (see the precedence in the module docstring)."""
    marks = tuple(marks)
    if blocked(marks, scan):
        return None
    return next((rule for rule in rules if matches(rule, language, code, marks)), None)


def describe(rule: AllowRule) -> str:
    """A phrase for the approval card and settings: "shell commands starting with `git status`"."""
    if rule.kind == "command-prefix":
        return f"shell commands starting with `{rule.pattern}`"
    return f"{_LANGUAGE_NAMES.get(rule.language, rule.language)} blocks without risk marks"


def suggest_rules(language: str, code: str) -> tuple[AllowRule, ...]:
    """Rules that would allow this block, most specific first, for an "always allow…" picker."""
    canonical = canonical_language(language)
    if canonical is None or not code.strip():
        return ()
    suggestions: list[AllowRule] = []
    commands = simple_commands(code) if canonical == "shell" else None
    if commands:
        first = commands[0]
        prefixes = []
        if len(first) > 1 and _PREFIX.fullmatch(first[1]) and not first[1].startswith("-") and "/" not in first[1]:
            prefixes.append(f"{first[0]} {first[1]}")
        prefixes.append(first[0])
        for prefix in prefixes:
            if _PREFIX.fullmatch(prefix) and all(_starts_with(words, prefix) for words in commands):
                suggestions.append(AllowRule("shell", "command-prefix", prefix))
    suggestions.append(AllowRule(canonical, "no-risk-marks"))
    return tuple(suggestions)
