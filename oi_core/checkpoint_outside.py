"""A cheap look at paths outside the working directory that a run touched.

Checkpoints cover only the working directory. To say honestly what they miss, the code is scanned for
path-like words (`/etc/hosts`, `~/notes.txt`, `../other`); those outside the working directory are
stat-ed before and after the run, and any that appeared, vanished or changed are reported. It sees only
paths written out in the code, which is why it is described as "seen to touch".
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_CANDIDATES = 64
_PATH_WORD = re.compile(r"""(?:(?<=^)|(?<=[\s'"`(=,:\[{<>]))((?:~|\.\.)?/[^\s'"`;|&<>(){}\[\],*?$]+)""")
_IGNORED_ROOTS = ("/dev/", "/proc/", "/sys/")
_IGNORED_EXACT = {"/", "/dev/null", "/tmp", "/usr/bin/env", "/bin/sh", "/bin/bash"}

Fingerprint = tuple[int, int, int] | None  # (mtime_ns, ctime_ns, size) or None when absent


def candidate_paths(code: str, root: Path) -> list[Path]:
    """Absolute paths named in `code` that lie outside `root` (at most MAX_CANDIDATES)."""
    found: dict[str, Path] = {}
    home = os.path.expanduser("~")
    for match in _PATH_WORD.finditer(code):
        word = match.group(1).rstrip(".:")
        if word.startswith("~"):
            word = home + word[1:]
        path = Path(os.path.normpath(root / word)) if word.startswith("..") else Path(os.path.normpath(word))
        text = str(path)
        if text in _IGNORED_EXACT or text.startswith(_IGNORED_ROOTS) or _inside(path, root):
            continue
        found.setdefault(text, path)
        if len(found) >= MAX_CANDIDATES:
            break
    return list(found.values())


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def fingerprints(paths: list[Path]) -> dict[str, Fingerprint]:
    prints: dict[str, Fingerprint] = {}
    for path in paths:
        try:
            info = os.lstat(path)
        except OSError:
            prints[str(path)] = None
            continue
        prints[str(path)] = (info.st_mtime_ns, info.st_ctime_ns, info.st_size)
    return prints


def touched(before: dict[str, Fingerprint]) -> list[str]:
    """The paths whose fingerprint changed since `before` was taken."""
    after = fingerprints([Path(p) for p in before])
    return [path for path, print_ in before.items() if after.get(path) != print_]


__all__ = ["candidate_paths", "fingerprints", "touched"]
