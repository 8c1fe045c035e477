"""Safe-mode scans: semgrep with the rules shipped in oi_core/data/safety, offline, in its own process.

semgrep is an optional extra (`pip install 'oi-tui[safe]'`). A scan never uses `--config auto` (that needs
the network): it runs one rules file per language. The `semgrep` command is a Python wrapper whose own
start-up costs about a second; what it starts for a scan is the engine binary shipped in the same wheel
(`semgrep/bin/semgrep-core`, started under the name `osemgrep`, which is how the wrapper itself starts it).
When that binary can be found next to the `semgrep` command, we start it directly; otherwise we run
`semgrep scan --experimental` (the same engine through the wrapper).

Which semgrep: the `semgrep` argument, else the OI_TUI_SEMGREP environment variable (a path or a command
name), else `semgrep` on PATH, else the one installed beside the running Python.

The process gets no terminal: stdin is /dev/null, stdout and stderr are captured, and it runs in a new
session, so nothing it prints reaches the screen and a cancelled scan kills its whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lexing import canonical_language
from .types import Finding, ScanResult, Severity

SEMGREP_ENV = "OI_TUI_SEMGREP"
INSTALL_HINT = "pip install 'oi-tui[safe]'"
DEFAULT_TIMEOUT = 10.0
RULES_DIR = Path(__file__).resolve().parent.parent / "data" / "safety"
RULE_FILES: dict[str, str] = {"python": "python.yaml", "shell": "bash.yaml", "javascript": "javascript.yaml"}
SUFFIXES: dict[str, str] = {"python": ".py", "shell": ".sh", "javascript": ".js"}
SCANNED_LANGUAGES = frozenset(RULE_FILES)
_SEVERITIES: dict[str, Severity] = {
    "INFO": "INFO", "LOW": "INFO", "WARNING": "WARNING", "MEDIUM": "WARNING", "ERROR": "ERROR", "HIGH": "ERROR",
    "CRITICAL": "ERROR",
}
_SYNTAX_LINE = re.compile(r":(\d+):")


@dataclass(frozen=True)
class Engine:
    """How to start semgrep for a scan: the program file, the name it is started under, the subcommand."""

    executable: str
    argv0: str
    kind: str  # "osemgrep": the engine binary started directly; "semgrep": through the semgrep command

    def command(self, *arguments: str) -> list[str]:
        return [self.argv0, "scan", "--experimental", *arguments]


def rules_file(language: str) -> Path:
    """Our rules file for a canonical language ("python", "shell", "javascript")."""
    return RULES_DIR / RULE_FILES[language]


def _semgrep_command(semgrep: str | None) -> tuple[Path | None, str]:
    """The semgrep command to use, or None and a sentence saying why there is none."""
    wanted = semgrep or os.environ.get(SEMGREP_ENV) or ""
    if wanted:
        path = Path(wanted).expanduser() if os.sep in wanted else None
        found = str(path) if path is not None else shutil.which(wanted)
        if found is None or not os.access(found, os.X_OK) or not Path(found).is_file():
            return None, f"semgrep was not found at {wanted}: install it with {INSTALL_HINT}."
        return Path(found), ""
    found = shutil.which("semgrep")
    if found is None:
        beside = Path(sys.executable).parent / "semgrep"  # an un-activated venv: .venv/bin/oi-tui
        found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None
    if found is None:
        return None, f"semgrep is not installed: {INSTALL_HINT}."
    return Path(found), ""


def _interpreter_of(script: Path) -> Path | None:
    """The Python named on a script's #! line (pip-installed commands are such scripts)."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    return Path(words[0]) if words else None


def _engine_binary(command: Path) -> Path | None:
    """The semgrep-core binary of the wheel that installed `command`, if it can be found cheaply."""
    if command.name.startswith("semgrep-core"):
        return command
    roots = [command.parent.parent]
    interpreter = _interpreter_of(command)
    if interpreter is not None:
        roots.append(interpreter.parent.parent)
    for root in dict.fromkeys(roots):
        for packages in ("site-packages", "dist-packages"):
            for candidate in sorted(root.glob(f"lib/python3*/{packages}/semgrep/bin/semgrep-core")):
                if os.access(candidate, os.X_OK):
                    return candidate
    on_path = shutil.which("semgrep-core")
    return Path(on_path) if on_path else None


@functools.lru_cache(maxsize=16)
def _find(semgrep: str | None, env_value: str | None, path_value: str | None) -> tuple[Engine | None, str]:
    command, problem = _semgrep_command(semgrep)
    if command is None:
        return None, problem
    if not RULES_DIR.is_dir():
        return None, f"oi-tui's semgrep rules are missing from {RULES_DIR}: reinstall oi-tui."
    binary = _engine_binary(command)
    if binary is not None:
        return Engine(str(binary), "osemgrep", "osemgrep"), ""
    return Engine(str(command), str(command), "semgrep"), ""


def find_engine(semgrep: str | None = None) -> tuple[Engine | None, str]:
    """How to start semgrep, or None and a one-sentence reason; no semgrep run, cached per setting."""
    return _find(semgrep, os.environ.get(SEMGREP_ENV), os.environ.get("PATH"))


def semgrep_status(semgrep: str | None = None) -> tuple[bool, str]:
    """Whether safe mode can scan, and a sentence saying so or why not; cheap enough for start-up."""
    engine, problem = find_engine(semgrep)
    if engine is None:
        return False, problem
    how = "its engine directly" if engine.kind == "osemgrep" else "the semgrep command"
    return True, f"semgrep is ready ({how}: {engine.executable})."


def _prepare(language: str, code: str) -> Path:
    """A private folder with the block in a file named for its language."""
    workdir = Path(tempfile.mkdtemp(prefix="oi-scan-"))
    (workdir / f"block{SUFFIXES[language]}").write_bytes(code.encode("utf-8", "replace"))
    return workdir


def _environment(workdir: Path) -> dict[str, str]:
    """Our environment minus semgrep's own settings (SEMGREP_RULES could add rules), offline, no colour."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEMGREP_")}
    env.update(
        SEMGREP_ENABLE_VERSION_CHECK="0", SEMGREP_SEND_METRICS="off", NO_COLOR="1",
        SEMGREP_SETTINGS_FILE=str(workdir / "settings.yml"), SEMGREP_LOG_FILE=str(workdir / "semgrep.log"),
    )
    return env


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _first_line(text: str, limit: int = 200) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _findings(results: list[dict[str, Any]]) -> tuple[Finding, ...]:
    seen: dict[tuple[str, int], Finding] = {}
    for result in results:
        extra = result.get("extra") or {}
        rule_id = str(result.get("check_id", "")).rsplit(".", 1)[-1]
        line = int((result.get("start") or {}).get("line", 0))
        end_line = int((result.get("end") or {}).get("line", line))
        severity = _SEVERITIES.get(str(extra.get("severity", "")).upper(), "WARNING")
        message = " ".join(str(extra.get("message", "")).split())
        seen.setdefault((rule_id, line), Finding(rule_id, line, end_line, severity, message))
    return tuple(sorted(seen.values(), key=lambda finding: (finding.line, finding.rule_id)))


def _incomplete(language: str, error: dict[str, Any]) -> str:
    """What went wrong with part of a scan, as the start of a sentence."""
    kind = str(error.get("type") or "")
    message = str(error.get("message") or "")
    if "syntax" in kind.lower() or "parse" in kind.lower():
        where = _SYNTAX_LINE.search(message)
        return f"semgrep could not parse this {language} code" + (f" (near line {where.group(1)})" if where else "")
    rule = str(error.get("rule_id") or "")
    if not rule and " running " in message:
        rule = message.split(" running ", 1)[1].split(" ", 1)[0]
    if "timeout" in kind.lower():
        return "semgrep ran out of time on part of the scan" + (f" (rule {rule})" if rule else "")
    return f"semgrep reported a problem ({_first_line(kind or message, 80).rstrip('.')})"


def interpret(language: str, returncode: int, stdout: bytes, stderr: bytes, seconds: float) -> ScanResult:
    """A ScanResult from semgrep's exit status and JSON output; anything unexpected is "failed" with a sentence."""
    try:
        data = json.loads(stdout.decode("utf-8", "replace"))
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        why = _first_line(stderr.decode("utf-8", "replace")) or "it printed no results"
        return ScanResult("failed", detail=f"semgrep failed (exit status {returncode}): {why.rstrip('.')}.",
                          seconds=seconds)
    errors = [error for error in data.get("errors") or [] if isinstance(error, dict)]
    fatal = [error for error in errors if error.get("level") == "error"]
    if fatal:
        why = _first_line(str(fatal[0].get("message") or fatal[0].get("type") or "unknown error"))
        return ScanResult("failed", detail=f"semgrep could not use the safe-mode rules: {why.rstrip('.: ')}.",
                          seconds=seconds)
    scanned = (data.get("paths") or {}).get("scanned")
    if isinstance(scanned, list) and not scanned:
        return ScanResult("failed", detail="semgrep skipped the block, so it was not checked.", seconds=seconds)
    findings = _findings(data["results"])
    if errors:  # any other error means part of the block went unchecked: never "clean"
        problem = _incomplete(language, errors[0])
        if not findings:
            return ScanResult("failed", detail=f"{problem}, so the block was not fully checked.", seconds=seconds)
        return ScanResult("findings", findings, f"{problem}; it may have missed more.", seconds=seconds)
    if returncode not in (0, 1):
        why = _first_line(stderr.decode("utf-8", "replace")) or f"exit status {returncode}"
        return ScanResult("failed", detail=f"semgrep failed: {why.rstrip('.')}.", seconds=seconds)
    return ScanResult("findings" if findings else "clean", findings, seconds=seconds)


async def scan(language: str, code: str, *, timeout: float = DEFAULT_TIMEOUT, semgrep: str | None = None,
               rules: str | os.PathLike[str] | None = None) -> ScanResult:
    """Scan one block with our rules; cancelling the task kills semgrep. Never raises for an expected failure.

    `semgrep`: the semgrep command (path or name) to use instead of the default; `rules`: a rules file to
    use instead of ours (tests).
    """
    started = time.monotonic()
    canonical = canonical_language(language)
    if canonical is None:
        shown = language.strip() or "in no named language"
        return ScanResult("not_scanned", detail=f"Safe mode scans Python, shell and JavaScript; this block is {shown}.")
    engine, problem = await asyncio.to_thread(find_engine, semgrep)
    if engine is None:
        return ScanResult("not_scanned", detail=problem)
    rules_path = Path(rules) if rules is not None else rules_file(canonical)
    workdir = await asyncio.to_thread(_prepare, canonical, code)
    try:
        return await _run(engine, canonical, rules_path, workdir, timeout, started)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _run(engine: Engine, language: str, rules_path: Path, workdir: Path, timeout: float,
               started: float) -> ScanResult:
    arguments = engine.command("--config", str(rules_path), "--json", "--metrics=off", "--disable-version-check",
                               "--quiet", f"block{SUFFIXES[language]}")
    try:
        process = await asyncio.create_subprocess_exec(
            *arguments, executable=engine.executable, cwd=workdir, env=_environment(workdir),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return ScanResult("failed", detail=f"semgrep could not start ({exc.strerror or exc}).",
                          seconds=time.monotonic() - started)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        _kill(process)
        await process.wait()
        return ScanResult("failed", detail=f"semgrep timed out after {timeout:g} s.", seconds=time.monotonic() - started)
    except asyncio.CancelledError:
        _kill(process)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        raise
    return interpret(language, process.returncode or 0, stdout, stderr, time.monotonic() - started)


async def warm_up(semgrep: str | None = None, timeout: float = 30.0) -> ScanResult:
    """Scan a tiny block once, so the engine binary is in the page cache before the first real scan."""
    return await scan("shell", "true\n", timeout=timeout, semgrep=semgrep)
