"""What a run changed on disk: the per-file list between two snapshots, and the state of one path in a snapshot."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .checkpoint_git import EMPTY_TREE, Shadow, Snapshot, TreeEntry

#: How many changed files a conversation stores per run; the counts are always complete.
STORED_FILES_LIMIT = 200


@dataclass(frozen=True)
class FileChange:
    """One file a run added, modified, deleted or renamed (paths relative to the working directory)."""

    path: str
    status: str  # "added" | "modified" | "deleted" | "renamed"
    old_path: str | None = None
    added: int | None = 0  # lines added; None for binary files
    removed: int | None = 0  # lines removed; None for binary files
    note: str = ""
    restorable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "") or k in ("added", "removed")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FileChange":
        return cls(
            path=str(data.get("path", "")),
            status=str(data.get("status", "modified")),
            old_path=data.get("old_path"),
            added=data.get("added"),
            removed=data.get("removed"),
            note=str(data.get("note", "")),
            restorable=bool(data.get("restorable", True)),
        )


@dataclass(frozen=True)
class PathState:
    """What was at one path in a snapshot: a kept file, a file over the size cap, or nothing."""

    kind: str  # "file" | "large" | "absent"
    shadow: Shadow
    snapshot: Snapshot
    rel: str  # path relative to `shadow.root`
    entry: TreeEntry | None = None

    @property
    def mode(self) -> int:
        """Permission bits to restore."""
        assert self.entry is not None
        odd = self.snapshot.modes.get(self.rel)
        if odd is not None:
            return int(odd)
        return 0o755 if self.entry.mode == "100755" else 0o644

    def same_as(self, other: "PathState") -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "file":
            assert self.entry is not None and other.entry is not None
            return self.entry == other.entry and self.mode == other.mode
        if self.kind == "large":
            return self.snapshot.large.get(self.rel) == other.snapshot.large.get(other.rel)
        return True


def counts(changes: list[FileChange]) -> dict[str, int]:
    """Files added / modified / deleted (a rename counts as modified) and lines added / removed."""
    summary = {"added": 0, "modified": 0, "deleted": 0, "lines_added": 0, "lines_removed": 0}
    for change in changes:
        key = "modified" if change.status == "renamed" else change.status
        summary[key] = summary.get(key, 0) + 1
        summary["lines_added"] += change.added or 0
        summary["lines_removed"] += change.removed or 0
    return summary


def compact(summary: dict[str, int]) -> str:
    """`+2 ~1 -0 files`: the one-line form shown under a code block."""
    return f"+{summary.get('added', 0)} ~{summary.get('modified', 0)} -{summary.get('deleted', 0)} files"


def changes_between(shadow: Shadow, before: Snapshot, after: Snapshot, prefix: str = "") -> list[FileChange]:
    """Every file that differs between two snapshots of `shadow`'s folder, nested repositories included."""
    changes: list[FileChange] = []
    seen: set[str] = set()
    if before.files != after.files:
        for raw, lines in shadow.diff(before.files, after.files):
            seen.add(raw.path)
            if raw.old_path:
                seen.add(raw.old_path)
            added, removed = (None, None) if lines is None else lines
            if raw.status == "A" and raw.path in before.large:
                changes.append(FileChange(prefix + raw.path, "modified", None, added, removed,
                                          "it was over the size cap, so its old content was not kept", False))
            elif raw.status == "D" and raw.path in after.large:
                changes.append(FileChange(prefix + raw.path, "modified", None, None, None,
                                          "now over the size cap (new content not kept)"))
            elif raw.status == "R":
                changes.append(FileChange(prefix + raw.path, "renamed", prefix + str(raw.old_path), added, removed))
            elif raw.status == "T":
                changes.append(FileChange(prefix + raw.path, "modified", None, added, removed, "changed type"))
            else:
                status = {"A": "added", "D": "deleted"}.get(raw.status, "modified")
                changes.append(FileChange(prefix + raw.path, status, None, added, removed))
    for path in sorted(set(before.large) | set(after.large)):
        if path in seen or before.large.get(path) == after.large.get(path):
            continue
        seen.add(path)
        if path not in before.large:
            changes.append(FileChange(prefix + path, "added", None, None, None, "over the size cap (content not kept)"))
        elif path not in after.large:
            changes.append(FileChange(prefix + path, "deleted", None, None, None,
                                      "it was over the size cap, so it cannot be restored", False))
        else:
            changes.append(FileChange(prefix + path, "modified", None, None, None,
                                      "over the size cap, so its old content cannot be restored", False))
    mode_paths = [p for p in sorted(set(before.modes) | set(after.modes))
                  if p not in seen and before.modes.get(p) != after.modes.get(p)]
    if mode_paths:
        old_entries = shadow.entries(before.files, mode_paths)
        new_entries = shadow.entries(after.files, mode_paths)
        for path in mode_paths:
            if path not in old_entries or path not in new_entries:
                continue
            old = PathState("file", shadow, before, path, old_entries[path]).mode
            new = PathState("file", shadow, after, path, new_entries[path]).mode
            if old != new:
                changes.append(FileChange(prefix + path, "modified", None, 0, 0, f"permissions {old:o} → {new:o}"))
    for folder in sorted(set(before.nested) | set(after.nested)):
        old_id, new_id = before.nested.get(folder), after.nested.get(folder)
        if old_id == new_id:
            continue
        child = shadow.child(folder)
        empty = Snapshot("", EMPTY_TREE)
        old_snap = child.load(old_id) if old_id else empty
        new_snap = child.load(new_id) if new_id else empty
        nested = changes_between(child, old_snap, new_snap, prefix + folder + "/")
        if old_id is None and nested:
            nested = [FileChange(c.path, c.status, c.old_path, c.added, c.removed,
                                 c.note or "in a git repository the run created") for c in nested]
        if new_id is None and old_id is not None:
            nested.append(FileChange(prefix + folder + "/.git", "deleted", None, None, None,
                                     "a nested repository's .git is never copied, so it cannot be restored", False))
        changes.extend(nested)
    return changes


def state_at(shadow: Shadow, snapshot: Snapshot, path: str) -> PathState:
    """What `path` (relative to `shadow.root`) was in `snapshot`, looking inside nested repositories."""
    for folder, snapshot_id in snapshot.nested.items():
        if path.startswith(folder + "/"):
            child = shadow.child(folder)
            return state_at(child, child.load(snapshot_id), path[len(folder) + 1 :])
    if path in snapshot.large:
        return PathState("large", shadow, snapshot, path)
    entry = shadow.entries(snapshot.files, [path]).get(path)
    if entry is None:
        return PathState("absent", shadow, snapshot, path)
    return PathState("file", shadow, snapshot, path, entry)


def states_at(shadow: Shadow, snapshot: Snapshot, paths: list[str]) -> dict[str, PathState]:
    """state_at for many paths, with one tree listing per repository."""
    by_repo: dict[str, list[str]] = {}
    for path in paths:
        folder = next((f for f in snapshot.nested if path.startswith(f + "/")), "")
        by_repo.setdefault(folder, []).append(path)
    found: dict[str, PathState] = {}
    for folder, group in by_repo.items():
        if folder:
            child = shadow.child(folder)
            inner = states_at(child, child.load(snapshot.nested[folder]), [p[len(folder) + 1 :] for p in group])
            found.update({folder + "/" + rel: state for rel, state in inner.items()})
            continue
        listed = shadow.entries(snapshot.files, [p for p in group if p not in snapshot.large])
        for path in group:
            if path in snapshot.large:
                found[path] = PathState("large", shadow, snapshot, path)
            elif path in listed:
                found[path] = PathState("file", shadow, snapshot, path, listed[path])
            else:
                found[path] = PathState("absent", shadow, snapshot, path)
    return found


__all__ = ["FileChange", "PathState", "STORED_FILES_LIMIT", "changes_between", "compact", "counts", "state_at",
           "states_at"]
