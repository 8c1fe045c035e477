"""The shadow repository: a private git dir per working directory, driven through the `git` command.

The user's project is only ever read: git runs with `GIT_DIR` set to our own folder (in the user's state
directory) and `GIT_WORK_TREE` set to the project, so the project's `.git`, index and refs are never opened.
The user's and the system's git config are ignored, so their settings (autocrlf, fsmonitor, hooks) cannot
change what a snapshot holds.

A snapshot is a git tree (its id) that holds `files` (the project's files, as `git add -A` would record them,
minus files over the size cap) and `meta.json`: permission bits git does not keep (anything other than 644
and 755), the files over the cap (size and mtime only, so changes to them are still seen), and the nested
repositories, each snapshotted by its own shadow repository. Unchanged files cost a stat: git's index
remembers what it hashed; in a small project a snapshot taken when nothing changed costs no git process at all
(see `Shadow.unchanged`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import subprocess
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIT_TIMEOUT = 300.0
SNAPSHOT_LOG = "oi-tui-snapshots.log"  # every snapshot id, so a future clean-up can tell what is ours
META_NAME = "meta.json"
FILES_NAME = "files"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

#: Never snapshotted, whatever the project's .gitignore says: caches and installed packages.
DEFAULT_EXCLUDES = (
    "node_modules/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    ".tox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
)

#: Folders never looked into when checking for changes (git never records `.git`; the rest are excluded above).
SKIPPED_FOLDERS = frozenset({".git"} | {p.rstrip("/") for p in DEFAULT_EXCLUDES if p.endswith("/")})
#: Files and folders up to which the working directory is checked with a stat of each in this process; above
#: it, git's own scan (in C, in parallel) is the cheaper way to see whether anything changed.
STAT_CHECK_LIMIT = 3_000
#: A file or folder changed this close to (or after) the start of a snapshot may change again within the same
#: timestamp tick and look unchanged; while one is that recent, the next snapshot asks git (2 s: FAT's tick).
RACY_NS = 3_000_000_000


class CheckpointError(Exception):
    """A checkpoint could not be taken or used; `str()` is one sentence for the user."""


@dataclass(frozen=True)
class Snapshot:
    """One recorded state of a working directory."""

    id: str  # the snapshot's own git tree: `files` and `meta.json`
    files: str  # tree of the files
    modes: dict[str, int] = field(default_factory=dict)  # permission bits git does not record
    large: dict[str, list[int]] = field(default_factory=dict)  # path -> [size, mtime_ns], content not kept
    nested: dict[str, str] = field(default_factory=dict)  # nested repository folder -> its snapshot id


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # "100644", "100755", "120000"
    sha: str


@dataclass(frozen=True)
class RawChange:
    """One line of `git diff-tree --raw`: status A, M, D, T or R (with old_path)."""

    status: str
    path: str
    old_path: str | None = None


def git_available() -> bool:
    try:
        subprocess.run(["git", "--version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def shadow_name(root: Path) -> str:
    """A readable, collision-free folder name for the shadow repository of `root`."""
    digest = hashlib.sha1(os.fsencode(str(root))).hexdigest()[:16]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", root.name)[:40] or "root"
    return f"{base}-{digest}"


def _git_env(git_dir: Path, work_tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_DIR=str(git_dir),
        GIT_WORK_TREE=str(work_tree),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="safe.directory",  # a project owned by another user must not stop us
        GIT_CONFIG_VALUE_0="*",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="oi-tui",
        GIT_AUTHOR_EMAIL="checkpoints@oi-tui.invalid",
        GIT_COMMITTER_NAME="oi-tui",
        GIT_COMMITTER_EMAIL="checkpoints@oi-tui.invalid",
        LC_ALL="C",
    )
    return env


def _permissions(root: str, paths: list[str]) -> dict[str, int]:
    """Permission bits of the regular files among `paths` (relative to `root`)."""
    found: dict[str, int] = {}
    lstat = os.lstat
    prefix = root + os.sep
    for path in paths:
        try:
            mode = lstat(prefix + path).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode):
            found[path] = stat.S_IMODE(mode)
    return found


class _Background:
    """Runs one function in a thread (file system calls release the GIL) while the caller waits on git."""

    def __init__(self, work: Any, *args: Any) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work, args), name="oi-checkpoint-scan", daemon=True)
        self._thread.start()

    def _run(self, work: Any, args: tuple[Any, ...]) -> None:
        try:
            self._result = work(*args)
        except BaseException as exc:  # handed to the caller in result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


class Shadow:
    """The shadow repository of one working directory (and, through children, of its nested repositories)."""

    def __init__(self, root: Path, state_dir: Path, *, max_file_size: int, max_files: int) -> None:
        self.root = Path(root)
        self.state_dir = Path(state_dir)
        self.git_dir = self.state_dir / shadow_name(self.root)
        self.max_file_size = max_file_size
        self.max_files = max_files
        self._env = _git_env(self.git_dir, self.root)
        self._loaded: dict[str, Snapshot] = {}
        self._last: Snapshot | None = None
        self._children: dict[str, Shadow] = {}
        self._tracked: set[str] | None = None  # paths in the shadow index, kept in step with it
        self._stats: dict[str, tuple[int, ...]] | None = None  # path -> stat at the last snapshot (None: ask git)
        self._too_big = False  # over STAT_CHECK_LIMIT (or a folder unreadable) once: git checks, as before

    def child(self, folder: str) -> "Shadow":
        """The shadow repository of a nested git repository (kept, so its caches last like ours)."""
        child = self._children.get(folder)
        if child is None:
            child = Shadow(self.root / folder, self.state_dir, max_file_size=self.max_file_size,
                           max_files=self.max_files)
            self._children[folder] = child
        return child

    # ------------------------------------------------------------ running git

    def git(self, *args: str, data: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
        try:
            done = subprocess.run(
                ["git", *args], input=data, capture_output=True, cwd=self.root, env=env or self._env,
                timeout=GIT_TIMEOUT, stdin=None if data is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise CheckpointError("git is not installed (checkpoints use the git command)") from None
        except subprocess.TimeoutExpired:
            raise CheckpointError(f"git took longer than {GIT_TIMEOUT:.0f} s on {self.root}") from None
        except OSError as exc:
            raise CheckpointError(f"git could not be started: {exc.strerror or exc}") from None
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = message[-1] if message else f"exit status {done.returncode}"
            raise CheckpointError(f"git {args[0]} failed in the checkpoint store ({detail})")
        return done.stdout

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start git without waiting (two listings run side by side); finish it with _collect."""
        try:
            return subprocess.Popen(["git", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=self.root, env=self._env)
        except FileNotFoundError:
            raise CheckpointError("git is not installed (checkpoints use the git command)") from None
        except OSError as exc:
            raise CheckpointError(f"git could not be started: {exc.strerror or exc}") from None

    def _collect(self, process: subprocess.Popen[bytes], name: str) -> bytes:
        try:
            out, err = process.communicate(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise CheckpointError(f"git took longer than {GIT_TIMEOUT:.0f} s on {self.root}") from None
        if process.returncode != 0:
            message = err.decode("utf-8", "replace").strip().splitlines()
            detail = message[-1] if message else f"exit status {process.returncode}"
            raise CheckpointError(f"git {name} failed in the checkpoint store ({detail})")
        return out

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer per shadow repository, across processes (two oi-tui in one folder)."""
        self.ensure()
        with open(self.git_dir / "oi-tui.lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def ensure(self) -> None:
        """Create the shadow repository on first use."""
        if (self.git_dir / "HEAD").is_file():
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CheckpointError(_os_reason(exc, self.state_dir)) from None
        if not os.access(self.state_dir, os.W_OK):
            raise CheckpointError(f"the checkpoint folder {self.state_dir} is not writable")
        bare_env = {k: v for k, v in self._env.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
        self.git("init", "-q", "--bare", str(self.git_dir), env=bare_env)
        settings = {
            "core.bare": "false", "core.autocrlf": "false", "core.safecrlf": "false", "core.filemode": "true",
            "core.symlinks": "true", "core.untrackedCache": "true", "core.fsmonitor": "false",
            "core.quotePath": "false", "core.excludesFile": os.devnull, "core.logAllRefUpdates": "false",
            "gc.auto": "0", "commit.gpgSign": "false", "diff.renames": "true",
            "core.splitIndex": "true", "index.version": "4",  # smaller index writes on big trees
        }
        for key, value in settings.items():
            self.git("config", key, value)
        (self.git_dir / "info").mkdir(exist_ok=True)
        (self.git_dir / "info" / "exclude").write_text("\n".join(DEFAULT_EXCLUDES) + "\n", encoding="utf-8")
        (self.git_dir / "oi-tui-worktree").write_text(str(self.root) + "\n", encoding="utf-8")

    # ------------------------------------------------------------ taking a snapshot

    def snapshot(self) -> Snapshot:
        """Record the working directory now; files git already hashed and that did not change cost a stat."""
        if not self.root.is_dir():
            raise CheckpointError(f"the working directory {self.root} no longer exists")
        last = self._last
        if last is not None and self.unchanged():
            return last
        with self.locked():
            return self._snapshot()

    def unchanged(self) -> bool:
        """True when a stat of every file and folder the last snapshot saw says nothing was added, changed or removed.

        A folder's mtime changes when an entry is added, removed or renamed in it; a file's mtime, ctime, size or
        inode changes with its content, mode or type. Only trusted for small projects without nested repositories,
        and only when nothing was recent enough at the last snapshot to change again unseen (`RACY_NS`).
        """
        stats = self._stats
        if stats is None or not (self.git_dir / "HEAD").is_file():
            return False
        prefix = str(self.root) + os.sep
        lstat = os.lstat
        for path, recorded in stats.items():
            try:
                info = lstat(prefix + path)
            except OSError:
                return False
            if _signature(info) != recorded:
                return False
        return True

    def _record_stats(self, started_ns: int, large: dict[str, list[int]]) -> dict[str, tuple[int, ...]] | None:
        """The stat of every file and folder of the snapshot just taken, or None when `unchanged` cannot rely on it."""
        assert self._tracked is not None
        paths = [*self._tracked, *large]
        if self._too_big or len(paths) >= STAT_CHECK_LIMIT:
            return None
        folders = _folders(str(self.root), STAT_CHECK_LIMIT - len(paths))
        if folders is None:
            self._too_big = True  # (ignored build folders, say): not walked again for each snapshot
            return None
        prefix = str(self.root) + os.sep
        cutoff = started_ns - RACY_NS
        stats: dict[str, tuple[int, ...]] = {}
        for path in [*folders, *paths]:
            try:
                info = os.lstat(prefix + path)
            except OSError:
                return None
            if info.st_mtime_ns >= cutoff or info.st_ctime_ns >= cutoff:
                return None
            stats[path] = _signature(info)
        return stats

    def _snapshot(self) -> Snapshot:
        self._stats = None
        started_ns = time.time_ns()  # before git looks at any file (see RACY_NS)
        if self._tracked is None:
            self._tracked = {os.fsdecode(p) for p in self.git("ls-files", "-z").split(b"\0") if p}
        perms_job = _Background(_permissions, str(self.root), list(self._tracked))  # overlaps git's own scans
        tracked = self._spawn("ls-files", "-z", "-t", "-m", "-d")  # changed and deleted files ...
        others = self._spawn("ls-files", "-z", "-t", "-o", "--exclude-standard")  # ... and new ones, side by side
        try:
            listing = self._collect(tracked, "ls-files") + b"\0" + self._collect(others, "ls-files")
        finally:
            for process in (tracked, others):
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        updates: list[str] = []
        removes: list[str] = []
        nested: list[str] = []
        large: dict[str, list[int]] = {}
        seen: set[str] = set()
        new_files = 0
        for item in listing.split(b"\0"):
            if len(item) < 3:
                continue
            tag, path = item[:1], os.fsdecode(item[2:])
            if path in seen:
                continue
            seen.add(path)
            if tag == b"?" and path.endswith("/"):
                nested.append(path.rstrip("/"))
                continue
            if tag == b"?":
                new_files += 1
            try:
                info = os.lstat(self.root / path)
            except OSError:  # deleted (or unreadable): out of the index
                removes.append(path)
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size > self.max_file_size:
                large[path] = [info.st_size, info.st_mtime_ns]
                removes.append(path)
            elif stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                updates.append(path)
            else:  # a file that became a folder (its files are listed on their own), fifos, sockets, devices
                removes.append(path)
        perms = perms_job.result()
        if new_files > self.max_files:
            raise CheckpointError(
                f"{self.root} holds more than {self.max_files:,} files that are not ignored, too many to checkpoint "
                "(add a .gitignore for generated files, start oi-tui in a project folder, or set checkpoints: false)"
            )
        if removes:  # first, so a folder that replaced a file (or the reverse) can take its place
            self.git("update-index", "-z", "--force-remove", "--stdin", data=_nul_join(removes))
        if updates:
            self.git("update-index", "-z", "--add", "--remove", "--replace", "--stdin", data=_nul_join(updates))
        if removes or updates or self._last is None:
            files = self.git("write-tree").decode().strip()
        else:
            files = self._last.files
        self._tracked.difference_update(removes)
        self._tracked.update(updates)
        for path in removes:
            perms.pop(path, None)
        perms.update(_permissions(str(self.root), updates))
        modes = {path: bits for path, bits in perms.items() if bits != (0o755 if bits & 0o100 else 0o644)}
        children = {folder: self.child(folder).snapshot().id for folder in sorted(nested)}
        if not children:
            self._stats = self._record_stats(started_ns, large)
        last = self._last
        if last is not None and (last.files, last.modes, last.large, last.nested) == (files, modes, large, children):
            return last  # nothing changed since the last snapshot
        meta = {"v": 1, "modes": modes, "large": large, "nested": children}
        meta_sha = self._write_object(b"blob", json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        wrapper = self._write_object(  # entries sorted by name, as git requires
            b"tree", b"40000 " + FILES_NAME.encode() + b"\0" + bytes.fromhex(files)
            + b"100644 " + META_NAME.encode() + b"\0" + bytes.fromhex(meta_sha))
        with open(self.git_dir / SNAPSHOT_LOG, "a", encoding="utf-8") as log:  # every snapshot stays findable
            log.write(f"{wrapper} {time.time():.0f}\n")
        snapshot = Snapshot(wrapper, files, modes, large, children)
        self._loaded[wrapper] = snapshot
        self._last = snapshot
        return snapshot

    def _write_object(self, kind: bytes, data: bytes) -> str:
        """Store one small git object as a loose object (what `git hash-object -w` does, without a process)."""
        raw = kind + b" " + str(len(data)).encode() + b"\0" + data
        sha = hashlib.sha1(raw).hexdigest()
        folder = self.git_dir / "objects" / sha[:2]
        target = folder / sha[2:]
        if target.exists():
            return sha
        folder.mkdir(exist_ok=True)
        temp = folder / f"tmp_obj_oi_{os.getpid()}_{threading.get_ident()}"
        temp.write_bytes(zlib.compress(raw))
        os.replace(temp, target)
        return sha

    # ------------------------------------------------------------ reading snapshots

    def load(self, snapshot_id: str) -> Snapshot:
        """The snapshot recorded as `snapshot_id` (from memory when it was taken or read before)."""
        cached = self._loaded.get(snapshot_id)
        if cached is not None:
            return cached
        if not (self.git_dir / "HEAD").is_file():
            raise CheckpointError(f"the checkpoint store for {self.root} is gone ({self.git_dir})")
        try:
            files, meta_sha = self.git("rev-parse", f"{snapshot_id}:{FILES_NAME}", f"{snapshot_id}:{META_NAME}").decode().split()
            meta = json.loads(self.git("cat-file", "blob", meta_sha))
        except (CheckpointError, ValueError):
            raise CheckpointError(f"checkpoint {snapshot_id[:10]} is missing from {self.git_dir}") from None
        snapshot = Snapshot(snapshot_id, files, dict(meta.get("modes") or {}), dict(meta.get("large") or {}),
                            dict(meta.get("nested") or {}))
        self._loaded[snapshot_id] = snapshot
        return snapshot

    def entries(self, tree: str, paths: Iterable[str] | None = None) -> dict[str, TreeEntry]:
        """Mode and blob of files in `tree` (all of them, or only `paths`)."""
        if tree == EMPTY_TREE:
            return {}
        args = ["ls-tree", "-r", "-z", "--full-tree", tree]
        wanted = sorted(set(paths)) if paths is not None else None
        if wanted is not None:
            if not wanted:
                return {}
            args += ["--", *[_literal(p) for p in wanted]]
        found: dict[str, TreeEntry] = {}
        for item in self.git(*args).split(b"\0"):
            if not item:
                continue
            head, _, path = item.partition(b"\t")
            mode, _kind, sha = head.decode().split(" ")
            found[os.fsdecode(path)] = TreeEntry(mode, sha)
        return found

    def blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Contents of blobs, read through one `git cat-file --batch`."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        out = self.git("cat-file", "--batch", data=("\n".join(wanted) + "\n").encode())
        found: dict[str, bytes] = {}
        position = 0
        for sha in wanted:
            end = out.index(b"\n", position)
            header = out[position:end].split()
            if len(header) < 3 or header[1] == b"missing":
                raise CheckpointError(f"the checkpoint store lost the content of a file (blob {sha[:10]})")
            size = int(header[2])
            found[sha] = out[end + 1 : end + 1 + size]
            position = end + 1 + size + 1
        return found

    def diff(self, old_tree: str, new_tree: str) -> list[tuple[RawChange, tuple[int, int] | None]]:
        """What differs between two file trees (renames detected), each with lines added and removed (None: binary)."""
        out = self.git("diff-tree", "-r", "-z", "-M", "--raw", "--numstat", "--no-commit-id", old_tree, new_tree)
        parts = out.split(b"\0")
        changes: list[RawChange] = []
        index = 0
        while index < len(parts) and parts[index].startswith(b":"):
            status = parts[index].split(b" ")[-1][:1].decode()
            if status in ("R", "C"):
                old, new = os.fsdecode(parts[index + 1]), os.fsdecode(parts[index + 2])
                changes.append(RawChange("R" if status == "R" else "A", new, old if status == "R" else None))
                index += 3
            else:
                changes.append(RawChange(status, os.fsdecode(parts[index + 1])))
                index += 2
        lines: dict[str, tuple[int, int] | None] = {}
        while index < len(parts):  # --numstat follows the raw lines
            item = parts[index]
            if not item:
                index += 1
                continue
            added, removed, path = item.split(b"\t", 2)
            if path:
                index += 1
            else:  # a rename: the two paths follow as their own fields
                path = parts[index + 2]
                index += 3
            lines[os.fsdecode(path)] = None if added == b"-" else (int(added), int(removed))
        return [(change, lines.get(change.path, (0, 0))) for change in changes]

    def patch(self, old_tree: str, new_tree: str, paths: Iterable[str] = (), prefix: str = "") -> str:
        """The unified diff between two file trees (binary files named, not shown); `prefix` goes before paths."""
        args = ["diff-tree", "-r", "-p", "-M", "--no-color", "--no-ext-diff", "--no-commit-id",
                f"--src-prefix=a/{prefix}", f"--dst-prefix=b/{prefix}", old_tree, new_tree]
        wanted = list(paths)
        if wanted:
            args += ["--", *[_literal(p) for p in wanted]]
        return self.git(*args).decode("utf-8", "replace")


def _signature(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def _folders(root: str, limit: int) -> list[str] | None:
    """Every folder under `root` a snapshot can hold files in, as "" and "a/b/" (None: more than `limit`, or
    one could not be read)."""
    found = [""]
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            entries = os.scandir(os.path.join(root, folder) if folder else root)
        except OSError:
            return None
        with entries:
            for entry in entries:
                try:
                    is_folder = entry.is_dir(follow_symlinks=False)
                except OSError:
                    return None
                if is_folder and entry.name not in SKIPPED_FOLDERS:
                    path = f"{folder}{entry.name}/"
                    found.append(path)
                    pending.append(path)
                    if len(found) > limit:
                        return None
    return found


def _nul_join(paths: list[str]) -> bytes:
    return b"\0".join(os.fsencode(p) for p in paths) + b"\0"


def _literal(path: str) -> str:
    """A pathspec that matches exactly `path` (no globbing)."""
    return ":(literal)" + path


def _os_reason(exc: OSError, path: Path) -> str:
    if exc.errno in (errno.EROFS,):
        return f"the checkpoint folder {path} is on a read-only disk"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"the checkpoint folder {path} cannot be written (permission denied)"
    if exc.errno == errno.ENOSPC:
        return f"the disk holding {path} is full"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"the checkpoint folder {path} cannot be created (a file is in the way)"
    return f"the checkpoint folder {path} cannot be created ({exc.strerror or exc})"


__all__ = ["CheckpointError", "RawChange", "Shadow", "Snapshot", "TreeEntry", "git_available"]
