"""Putting files back: make a set of paths what they were in a snapshot (written back, or removed).

Order matters for a file replaced by a folder and back: paths that must not exist are removed first
(deepest first) and the folders that leaves empty are pruned, then files are written shallow-first.
Writes go through a temporary file in the same folder and a rename, with the recorded permission bits.
Nothing is written through a symbolic link, nothing named `.git` is touched, and nothing outside the
working directory is touched.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint_changes import PathState


@dataclass
class RestoreOutcome:
    """What a restore did, path by path (paths relative to the working directory)."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def merge(self, other: "RestoreOutcome") -> None:
        self.written.extend(other.written)
        self.removed.extend(other.removed)
        self.failed.extend(other.failed)


class _Obstacle(Exception):
    pass


def _safe_parts(rel: str) -> list[str]:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise _Obstacle("not a path oi-tui restores")
    return parts


def _check_parents(root: Path, parts: list[str], create: bool) -> Path:
    """The parent folder of a path, refusing symbolic links and files on the way (creating folders if asked)."""
    current = root
    for name in parts[:-1]:
        current = current / name
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return current
            os.mkdir(current)
            continue
        if stat.S_ISLNK(info.st_mode):
            raise _Obstacle(f"{current.relative_to(root)} is a symbolic link, so nothing is written through it")
        if not stat.S_ISDIR(info.st_mode):
            raise _Obstacle(f"{current.relative_to(root)} is a file where a folder should be")
    return current


def _remove(root: Path, rel: str) -> bool:
    """Remove one file or link; True if something was removed."""
    parts = _safe_parts(rel)
    _check_parents(root, parts, create=False)
    target = root / rel
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        raise _Obstacle("a folder is there now and was left as it is")
    os.unlink(target)
    return True


def _prune(root: Path, rel: str, keep: set[str]) -> None:
    """Remove folders left empty above a removed path, unless a restored file needs them."""
    parts = rel.split("/")[:-1]
    while parts:
        folder = "/".join(parts)
        if folder in keep:
            return
        try:
            os.rmdir(root / folder)
        except OSError:
            return
        parts.pop()


def _write(root: Path, rel: str, data: bytes, mode: int, link: bool) -> None:
    parts = _safe_parts(rel)
    parent = _check_parents(root, parts, create=True)
    target = root / rel
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        try:
            os.rmdir(target)
        except OSError:
            raise _Obstacle("a folder with other files in it is where this file was") from None
    temp = parent / f".{parts[-1][:100]}.oi-tui-restore-{os.getpid()}"
    try:
        if link:
            os.symlink(os.fsdecode(data), temp)
        else:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), mode)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def restore(root: Path, targets: dict[str, PathState]) -> RestoreOutcome:
    """Make every path in `targets` (relative to `root`) what its PathState says; "large" ones are skipped."""
    outcome = RestoreOutcome()
    absent = sorted((p for p, s in targets.items() if s.kind == "absent"), key=lambda p: (-p.count("/"), p))
    present = sorted((p for p, s in targets.items() if s.kind == "file"), key=lambda p: (p.count("/"), p))
    needed_folders = {"/".join(p.split("/")[:i]) for p in present for i in range(1, p.count("/") + 1)}
    for rel in absent:
        try:
            if _remove(root, rel):
                outcome.removed.append(rel)
            _prune(root, rel, needed_folders)
        except _Obstacle as exc:
            outcome.failed.append((rel, str(exc)))
        except OSError as exc:
            outcome.failed.append((rel, exc.strerror or str(exc)))
    by_store: dict[int, list[str]] = {}
    for rel in present:
        by_store.setdefault(id(targets[rel].shadow), []).append(rel)
    for group in by_store.values():
        shadow = targets[group[0]].shadow
        contents = shadow.blobs(targets[rel].entry.sha for rel in group)  # type: ignore[union-attr]
        for rel in group:
            state = targets[rel]
            assert state.entry is not None
            try:
                _write(root, rel, contents[state.entry.sha], state.mode, state.entry.mode == "120000")
                outcome.written.append(rel)
            except _Obstacle as exc:
                outcome.failed.append((rel, str(exc)))
            except OSError as exc:
                outcome.failed.append((rel, exc.strerror or str(exc)))
    return outcome


def remove_folder(root: Path, rel: str) -> bool:
    """Remove a whole folder a run created (a repository it cloned, say); False if it is not there."""
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
        return False
    target = root / rel
    if target.is_symlink() or not target.is_dir():
        return False
    shutil.rmtree(target)
    return True


__all__ = ["RestoreOutcome", "remove_folder", "restore"]
