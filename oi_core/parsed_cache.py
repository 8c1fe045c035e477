"""What a YAML file parsed to, kept as JSON between launches: PyYAML's import alone is ~11 ms of the first frame.

The launch reads the profile and every theme file. An entry is used only while its file is unchanged (same
size, modification and change times, inode), and holds exactly what the caller's parser returned for that
file's text, so a hit behaves like a parse. File times tick coarsely (a few ms), so two same-size edits in
one tick look alike: a file changed in the last SETTLE_SECONDS is parsed, not cached. Anything wrong with the cache (unwritable folder, a damaged
entry, a value JSON cannot hold as it is) means an ordinary parse; entries are written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger("oi_core.parsed_cache")

FORMAT = 1
"""Bumped when what a parser returns changes shape, so older entries are not used."""

SETTLE_SECONDS = 2.0
"""A file changed more recently than this is not cached (see above)."""

DISABLE_ENV = "OI_TUI_NO_PARSE_CACHE"
"""Set to 1 to always parse (e.g. to rule the cache out while investigating)."""


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("oi-tui")) / "parsed"


def load(path: Path, kind: str, parse: Callable[[Path], Any]) -> Any:
    """`parse(path)`, or what it returned the last time for this unchanged file; its errors pass through."""
    if os.environ.get(DISABLE_ENV) == "1":
        return parse(path)
    path = Path(os.path.abspath(path))
    try:
        before = _identity(path)
    except OSError:
        return parse(path)  # the parser says what is wrong with the file
    entry = _entry_path(path, kind)
    key = [FORMAT, kind, str(path), *before]
    cached = _read_entry(entry, key)
    if cached is not None:
        return cached[0]
    value = parse(path)
    try:
        unchanged = _identity(path) == before  # edited while it was read: do not keep what may be a mix
    except OSError:
        unchanged = False
    settled = time.time() - max(before[1], before[2]) / 1e9 >= SETTLE_SECONDS
    if unchanged and settled and _json_exact(value):
        _write_entry(entry, key, value)
    return value


def _identity(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _entry_path(path: Path, kind: str) -> Path:
    """One entry per file; the name is only a locator (the entry's key names the file exactly)."""
    import zlib

    digest = zlib.crc32(str(path).encode("utf-8", "surrogatepass"))
    return cache_dir() / f"{kind}-{digest:08x}-{len(str(path))}.json"


def _read_entry(entry: Path, key: list[Any]) -> tuple[Any] | None:
    try:
        stored = json.loads(entry.read_bytes())
    except (OSError, ValueError):  # missing (the usual miss) or damaged: parse again
        return None
    if not isinstance(stored, dict) or stored.get("key") != key or "value" not in stored:
        return None
    return (stored["value"],)


def _write_entry(entry: Path, key: list[Any], value: Any) -> None:
    from .conversations import atomic_write

    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(entry, json.dumps({"key": key, "value": value}, ensure_ascii=False).encode("utf-8"))
    except (OSError, ValueError) as exc:  # a cache that cannot be written only costs the next launch a parse
        log.info("parsed cache: not written (%s): %s", entry, exc)


def _json_exact(value: Any, depth: int = 0) -> bool:
    """JSON gives back exactly this value: string keys only, no tuples, sets, dates or non-finite floats."""
    if depth > 60:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_exact(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(type(key) is str and _json_exact(item, depth + 1) for key, item in value.items())
    return False


__all__ = ["DISABLE_ENV", "FORMAT", "cache_dir", "load"]
