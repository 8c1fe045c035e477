"""Checkpoints: the files under the working directory are recorded before each approved run, so a run can be undone.

Before a run, `RunCheckpoints.before_run` snapshots the working directory into a private shadow repository
(see `checkpoint_git`: the user's data is only read, their `.git` never opened). After the run,
`after_run` snapshots again, works out what changed and stores it on the run's code message under
"checkpoint", so a resumed conversation still knows it, and publishes `RunFilesChanged`:

    {"run": "r-3f2a…", "root": "/home/me/project", "before": "<snapshot id>", "after": "<snapshot id>",
     "counts": {"added": 2, "modified": 1, "deleted": 0, "lines_added": 14, "lines_removed": 3},
     "files": [{"path": "out.txt", "status": "added", "added": 3, "removed": 0}, …],  # first 200
     "more_files": 0, "outside": ["/etc/hosts"], "error": null, "undone": false}

`error` is set (and `before` is null) when no checkpoint could be taken; the user was then asked whether to
run without one. Undo (`undo`) puts back the files the last run created, changed or deleted, marks the
record `undone` and tells the model in a note message; rewind (`rewind`) undoes every run from a message on,
keeps the original conversation as it was (saved, in the navigator) and continues in a fork of its first
messages (`oi_core.conversations.branch`).

What is covered: regular files and symbolic links under the working directory that its `.gitignore` files
do not exclude, with their permission bits, up to `checkpoint_max_file_size` bytes each (bigger files are
listed as not restorable). Nested git repositories are covered too, each by its own shadow repository;
their `.git` folders are never read or written. Not covered: anything outside the working directory,
databases, remote systems, installed packages, and what running programs hold in memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The git, diff and restore modules load on first use (in a worker thread): `import oi_core` stays light.
from .errors import OiError
from .events import ErrorRaised, FilesRestored, RunFilesChanged

if TYPE_CHECKING:
    from .checkpoint_changes import FileChange
    from .checkpoint_git import Shadow, Snapshot

RECORD_KEY = "checkpoint"
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
MAX_FILES = 100_000
#: Seconds after start-up before the first snapshot is taken in the background (RunCheckpoints.warm_up).
WARM_UP_DELAY = 2.0
LIMITS = (
    "Undo restores files under {root} only. Changes outside it, to databases, remote systems or installed "
    "packages, and what running programs hold in memory are not undone."
)
UNDO_NOTE = (
    "[oi-tui] The user undid the file changes of the run of the code at message {index}: {what}. "
    "Those files are back as they were before it ran. Anything else it did (variables in memory, files outside "
    "{root}, installed packages, databases, remote systems) was not undone."
)


class CheckpointUnavailable(OiError):
    """Undo or rewind cannot go ahead (code is running, no such message, the store is unusable)."""

    kind = "checkpoint"


def state_dir() -> Path:
    """Where the shadow repositories live: the user's state folder (XDG_STATE_HOME honoured), never the project."""
    import platformdirs

    return Path(platformdirs.user_state_dir("oi-tui", appauthor=False)) / "checkpoints"


@dataclass
class RestoreResult:
    """What an undo or a rewind did, for the user and the model."""

    action: str  # "undo" | "rewind"
    index: int | None = None  # the code message undone, or the message rewound to
    root: str = ""
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_restorable: list[tuple[str, str]] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)  # changed again after the run, now put back too
    outside: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)  # code messages whose runs were undone
    without_checkpoint: list[tuple[int, str]] = field(default_factory=list)  # runs that could not be undone
    kept_id: str | None = None  # rewind: the conversation as it was, still saved under its id
    fork_id: str | None = None  # rewind: the conversation that continues from the rewind point
    replay: dict[str, Any] | None = None
    note: str = ""  # set when nothing was done, saying why

    @property
    def done(self) -> bool:
        return bool(self.runs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def limits(self) -> str:
        return LIMITS.format(root=self.root or "the working directory")

    def describe(self) -> str:
        """Several lines for plain mode and the API: what was restored, what was not, and the limits."""
        if self.note and self.action == "undo":
            return self.note
        lines: list[str] = []
        restored = len(self.written) + len(self.removed)
        if self.action == "undo":
            lines.append(f"Undid the last run: {restored} file(s) put back ({len(self.written)} restored, "
                         f"{len(self.removed)} removed).")
        elif self.runs:
            lines.append(f"Rewound to message {self.index}: {len(self.runs)} run(s) undone, {restored} file(s) put "
                         f"back ({len(self.written)} restored, {len(self.removed)} removed).")
        else:
            lines.append(f"Rewound to message {self.index}; no run after it had changed files to put back.")
        return "\n".join(lines + self.details())

    def details(self) -> list[str]:
        """The lines after describe()'s first: each path, what could not be done, and the limits."""
        lines: list[str] = []
        restored = len(self.written) + len(self.removed)
        for path in self.written[:20]:
            lines.append(f"  restored {path}")
        for path in self.removed[:20]:
            lines.append(f"  removed  {path}")
        shown = min(len(self.written), 20) + min(len(self.removed), 20)
        if restored > shown:
            lines.append(f"  … and {restored - shown} more")
        for path, reason in self.failed:
            lines.append(f"  NOT restored {path}: {reason}")
        for path, reason in self.not_restorable:
            lines.append(f"  not restorable {path}: {reason}")
        if self.overwritten:
            lines.append("  These had changed again after the run and were put back too: " + ", ".join(self.overwritten[:10]))
        for index, reason in self.without_checkpoint:
            lines.append(f"  The run at message {index} had no checkpoint ({reason}); its changes stay.")
        if self.outside:
            lines.append("  Outside the working directory, the run(s) touched (not undone): " + ", ".join(self.outside))
        if self.kept_id:
            lines.append(f"  The conversation as it was is kept as {self.kept_id} (see the conversation list); "
                         f"this one continues as {self.fork_id}.")
        if self.replay:
            lines.append("  " + str(self.replay.get("summary", "")))
        lines.append(self.limits())
        return lines


@dataclass
class _Pending:
    """A run in progress: its checkpoint (or why there is none) and what it may touch outside."""

    run_id: str
    root: Path
    before: "Snapshot | None"
    error: str | None
    outside: dict[str, Any]


#: Asks the user again, giving a reason: (reason, code) -> the code to run, or None not to run it.
AskAgain = Callable[[str, str], Awaitable["str | None"]]


def ask_without_checkpoint(interpreter: Any, approve: Any, pending: Any) -> AskAgain | None:
    """The respond loop's approver, asked once more with the reason as `forced` (shown even with auto-run on)."""
    if approve is None:
        return None

    async def ask(reason: str, code: str) -> str | None:
        again = dataclasses.replace(pending, code=code, forced=reason, scan_task=None,
                                    request_id=f"approval-checkpoint-{uuid.uuid4().hex[:8]}")
        interpreter.set_status("awaiting_approval", pending.language)
        decision = await approve(again)
        if decision.outcome != "run":
            return None
        interpreter.set_status("running", pending.language)
        return str(decision.code)

    return ask


def record_of(message: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint record a code message carries, if its run was recorded."""
    record = message.get(RECORD_KEY)
    return record if isinstance(record, dict) else None


def runs_in(messages: list[dict[str, Any]], *, newest_first: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(message index, record) of every recorded run, lazily: newest first, a check stops at the first it needs."""
    snapshot = list(messages)  # the references only: the core may append meanwhile
    order = range(len(snapshot) - 1, -1, -1) if newest_first else range(len(snapshot))
    for index in order:
        message = snapshot[index]
        if message.get("type") == "code" and (record := record_of(message)) is not None:
            yield index, record


def last_undoable_in(messages: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
    """The most recent run that was recorded and not undone yet."""
    return next(((index, record) for index, record in runs_in(messages, newest_first=True)
                 if not record.get("undone")), None)


def summary_line(record: dict[str, Any]) -> str:
    """One line for a code block: `+2 ~1 -0 files`, "no checkpoint", or "undone"."""
    if record.get("error") and not record.get("before"):
        return "no checkpoint (file changes not recorded)"
    from .checkpoint_changes import compact

    line = compact(record.get("counts") or {})
    if record.get("undone"):
        line += " · undone"
    if record.get("outside"):
        line += f" · touched {len(record['outside'])} path(s) outside"
    return line


class RunCheckpoints:
    """Checkpoints of one interpreter's runs; all disk and git work happens in threads, never on the loop."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self._shadows: dict[tuple[Path, Path, int], "Shadow"] = {}
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()  # one git operation at a time per interpreter
        self._tasks: set[asyncio.Future[Any]] = set()

    # ------------------------------------------------------------ settings

    @property
    def enabled(self) -> bool:
        return bool(getattr(self.interpreter, "checkpoints", True))

    @property
    def max_file_size(self) -> int:
        value = getattr(self.interpreter, "checkpoint_max_file_size", DEFAULT_MAX_FILE_SIZE)
        return int(value) if value is not None else DEFAULT_MAX_FILE_SIZE

    def root(self) -> Path:
        """The working directory runs start in (the folder oi-tui was started in)."""
        return Path(os.getcwd()).resolve()

    def shadow(self, root: Path) -> "Shadow":
        from .checkpoint_git import Shadow

        folder = state_dir()
        key = (root, folder, self.max_file_size)
        shadow = self._shadows.get(key)
        if shadow is None:
            shadow = Shadow(root, folder, max_file_size=self.max_file_size, max_files=MAX_FILES)
            self._shadows[key] = shadow
        return shadow

    def _locked(self, work: Callable[[], Any]) -> Any:
        with self._lock:
            return work()

    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(self._locked, work)

    async def warm_up(self, delay: float = WARM_UP_DELAY) -> None:
        """Take the folder's first snapshot in the background, so the first approved run does not wait for it.

        The first snapshot hashes every file (seconds for a project of 20,000 files); later ones cost a stat per
        file, or nothing when nothing changed. Refused folders (the home folder, the disk) are left for the run
        to explain.
        """
        if not self.enabled:
            return
        await asyncio.sleep(delay)  # after start-up's own work
        root = self.root()

        def take() -> None:
            from .checkpoint_git import CheckpointError

            try:
                _refuse_unsafe_root(root)
                self.shadow(root).snapshot()
            except (CheckpointError, OSError):
                return  # said when a run needs the checkpoint

        await self._in_thread(take)

    # ------------------------------------------------------------ around a run

    async def before_run(self, index: int, language: str, code: str, ask_again: AskAgain | None) -> str | None:
        """Checkpoint before running the code at message `index`; returns the code to run, or None not to run.

        When no checkpoint can be taken the user is told why and asked again through `ask_again(reason, code)`
        (even with auto-run on); None from it, or no way to ask, means the code does not run.
        """
        if not self.enabled:
            return code
        await self.settle()  # the last run's files are recorded before anything else is
        root = self.root()
        run_id = "r-" + uuid.uuid4().hex[:12]

        def take() -> "tuple[Snapshot | None, str | None, dict[str, Any]]":
            from .checkpoint_git import CheckpointError
            from .checkpoint_outside import candidate_paths, fingerprints

            outside = fingerprints(candidate_paths(code, root))
            try:
                _refuse_unsafe_root(root)
                return self.shadow(root).snapshot(), None, outside
            except CheckpointError as exc:
                return None, str(exc), outside
            except OSError as exc:
                return None, f"the disk refused ({exc.strerror or exc})", outside

        before, error, outside = await self._in_thread(take)
        if error is not None:
            self.interpreter.bus.publish(ErrorRaised(
                "checkpoint",
                f"No checkpoint could be taken before this run: {error}. If it runs, Undo cannot put its file "
                "changes back. Approve it again to run it without a checkpoint, or skip it.",
            ))
            if ask_again is None:
                return None
            again = await ask_again(f"no checkpoint could be taken ({error})", code)
            if again is None:
                return None
            code = again
        self._pending[index] = _Pending(run_id, root, before, error, outside)
        return code

    async def after_run(self, index: int, wait: bool = True) -> None:
        """Record what the run at `index` changed (store it on the code message, publish RunFilesChanged).

        With `wait=False` the recording goes on beside what follows (the next request to the model); the
        next `before_run`, undo, rewind and the end of the turn wait for it (`settle`).
        """
        pending = self._pending.pop(index, None)
        if pending is None:
            return
        task = asyncio.ensure_future(self._record(index, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if wait:
            await asyncio.shield(task)

    @property
    def recording(self) -> bool:
        """A finished run's changes are still being worked out."""
        return bool(self._tasks)

    async def settle(self) -> None:
        """Wait until every finished run's changes are recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _record(self, index: int, pending: _Pending) -> None:
        record: dict[str, Any] = {
            "run": pending.run_id, "root": str(pending.root), "before": None, "after": None,
            "counts": {"added": 0, "modified": 0, "deleted": 0, "lines_added": 0, "lines_removed": 0}, "files": [], "more_files": 0, "outside": [], "error": pending.error,
            "undone": False, "ran_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

        def measure() -> None:
            from .checkpoint_changes import STORED_FILES_LIMIT, changes_between, counts
            from .checkpoint_git import CheckpointError
            from .checkpoint_outside import touched

            record["outside"] = touched(pending.outside)
            if pending.before is None:
                return
            record["before"] = pending.before.id
            shadow = self.shadow(pending.root)
            try:
                after = shadow.snapshot()
            except CheckpointError as exc:
                record["error"] = f"the files after the run could not be recorded ({exc})"
                return
            record["after"] = after.id
            changes = changes_between(shadow, pending.before, after)
            record["counts"] = counts(changes)
            record["files"] = [c.to_dict() for c in changes[:STORED_FILES_LIMIT]]
            record["more_files"] = max(0, len(changes) - STORED_FILES_LIMIT)

        try:
            await self._in_thread(measure)
        except Exception as exc:  # a bug or a disk failure: say so, the conversation goes on
            record["error"] = record["error"] or f"the run's changes could not be worked out ({exc})"
            self.interpreter.bus.publish(ErrorRaised("checkpoint", f"Could not record what the run changed: {exc}."))
        interp = self.interpreter
        if index < len(interp.messages) and interp.messages[index].get("type") == "code":
            interp.replace_message(index, {**interp.messages[index], RECORD_KEY: record})
        interp.bus.publish(RunFilesChanged(index, record))

    # ------------------------------------------------------------ reading records

    def recorded_runs(self, messages: list[dict[str, Any]] | None = None) -> list[tuple[int, dict[str, Any]]]:
        """(message index, record) of every recorded run, oldest first."""
        return list(runs_in(self.interpreter.messages if messages is None else messages))

    def last_undoable(self) -> tuple[int, dict[str, Any]] | None:
        """The most recent run that was recorded and not undone yet."""
        return last_undoable_in(self.interpreter.messages)

    async def changes(self, record: dict[str, Any]) -> "list[FileChange]":
        """Every file the recorded run changed (not only the first 200 the conversation keeps)."""
        from .checkpoint_changes import FileChange, changes_between

        if not record.get("before") or not record.get("after"):
            return [FileChange.from_dict(f) for f in record.get("files") or []]

        def work() -> "list[FileChange]":
            shadow = self.shadow(Path(record["root"]))
            return changes_between(shadow, shadow.load(record["before"]), shadow.load(record["after"]))

        return await self._in_thread(work)

    async def patch(self, record: dict[str, Any]) -> str:
        """The run's changes as a unified diff (text files; binary files are named)."""
        if not record.get("before") or not record.get("after"):
            return ""

        def work() -> str:
            from .checkpoint_git import EMPTY_TREE

            shadow = self.shadow(Path(record["root"]))
            before, after = shadow.load(record["before"]), shadow.load(record["after"])
            parts = [shadow.patch(before.files, after.files)] if before.files != after.files else []
            for folder in sorted(set(before.nested) | set(after.nested)):
                old, new = before.nested.get(folder), after.nested.get(folder)
                if old == new:
                    continue
                child = shadow.child(folder)
                old_files = child.load(old).files if old else EMPTY_TREE
                new_files = child.load(new).files if new else EMPTY_TREE
                parts.append(child.patch(old_files, new_files, prefix=folder + "/"))
            return "".join(parts)

        return await self._in_thread(work)

    # ------------------------------------------------------------ undo and rewind

    def _undo_run(self, record: dict[str, Any], result: RestoreResult) -> None:
        """Put back the files one recorded run changed (runs in a thread, under the lock)."""
        from .checkpoint_changes import changes_between, states_at
        from .checkpoint_restore import remove_folder, restore

        root = Path(record["root"])
        shadow = self.shadow(root)
        before = shadow.load(record["before"])
        now = shadow.snapshot()  # also a safety net: the state just before the undo is kept
        after = shadow.load(record["after"]) if record.get("after") else now
        changes = changes_between(shadow, before, after)
        paths: list[str] = []
        for change in changes:
            if not change.restorable:
                result.not_restorable.append((change.path, change.note or "cannot be restored"))
                continue
            paths.append(change.path)
            if change.old_path:
                paths.append(change.old_path)
        paths = list(dict.fromkeys(paths))
        old_states = states_at(shadow, before, paths)
        now_states = states_at(shadow, now, paths)
        after_states = states_at(shadow, after, paths) if after is not now else now_states
        targets = {}
        for path in paths:
            old, current = old_states[path], now_states[path]
            if not current.same_as(after_states[path]):
                result.overwritten.append(path)
            if old.kind == "large":
                result.not_restorable.append((path, "it was over the size cap, so its old content was not kept"))
            elif not current.same_as(old):
                targets[path] = old
        outcome = restore(root, targets)
        for folder in sorted(set(after.nested) - set(before.nested)):
            if not any(p.startswith(folder + "/") for p in old_states if old_states[p].kind != "absent"):
                if remove_folder(root, folder):
                    outcome.removed.append(folder + "/")
        result.written.extend(outcome.written)
        result.removed.extend(outcome.removed)
        result.failed.extend(outcome.failed)
        result.outside.extend(p for p in record.get("outside") or [] if p not in result.outside)
        result.root = str(root)

    async def guard_files(self) -> dict[str, Any] | None:
        """Snapshot now, so the file changes of what follows (a kernel replay) can be put back with release_files."""
        if not self.enabled:
            return None
        root = self.root()
        from .checkpoint_git import CheckpointError

        try:
            snapshot = await self._in_thread(lambda: self.shadow(root).snapshot())
        except (CheckpointError, OSError):
            return None
        return {"root": str(root), "before": snapshot.id, "after": None}

    async def release_files(self, guard: dict[str, Any]) -> int:
        """Put back every file changed since guard_files; the number of files put back."""
        from .checkpoint_git import CheckpointError

        result = RestoreResult("replay")
        try:
            await self._in_thread(lambda: self._undo_run(guard, result))
        except (CheckpointError, OSError):
            return 0
        return len(result.written) + len(result.removed)

    def _refuse_busy(self) -> None:
        if getattr(self.interpreter, "status", "idle") != "idle":
            raise CheckpointUnavailable("Stop the current turn first: files cannot be put back while code may run.")

    async def undo(self) -> RestoreResult:
        """Undo the last run that was not undone yet: its files go back to how they were before it ran."""
        self._refuse_busy()
        await self.settle()
        last = self.last_undoable()
        result = RestoreResult("undo", root=str(self.root()))
        if last is None:
            if self.recorded_runs():
                result.note = "Nothing left to undo: every recorded run of this conversation was undone already."
            else:
                result.note = "No run to undo: no code has run with a checkpoint in this conversation."
            return result
        index, record = last
        result.index = index
        from .checkpoint_git import CheckpointError

        if not record.get("before"):
            result.note = (f"The last run (message {index}) ran without a checkpoint ({record.get('error')}), so its "
                           "file changes cannot be undone.")
            return result
        try:
            await self._in_thread(lambda: self._undo_run(record, result))
        except CheckpointError as exc:
            result.note = f"Could not undo the last run: {exc}."
            return result
        result.runs.append(index)
        self._mark_undone(index, record, result)
        self.interpreter.add_message({
            "role": "computer", "type": "message", "format": "checkpoint",
            "content": UNDO_NOTE.format(index=index, what=_what_changed(result), root=result.root),
        })
        self.interpreter.bus.publish(FilesRestored("undo", index, result.to_dict()))
        return result

    def _mark_undone(self, index: int, record: dict[str, Any], result: RestoreResult) -> None:
        interp = self.interpreter
        undone = {**record, "undone": True,
                  "undo": {"written": len(result.written), "removed": len(result.removed), "failed": len(result.failed)}}
        if index < len(interp.messages):
            interp.replace_message(index, {**interp.messages[index], RECORD_KEY: undone})

    async def rewind(self, message_index: int, *, replay_kernel: bool = False,
                     fork: bool = True) -> RestoreResult:
        """Put back the files every run from `message_index` on changed, keep the conversation before it.

        When conversations are saved, the original one stays as it is and this one continues in a fork. With
        `replay_kernel`, the Python kernel is restarted and the approved Python blocks before that
        message are run again, stopping at the first error (their file changes are put back afterwards).
        """
        from .checkpoint_git import CheckpointError

        self._refuse_busy()
        await self.settle()
        interp = self.interpreter
        messages = list(interp.messages)
        if not isinstance(message_index, int) or isinstance(message_index, bool) or not 0 <= message_index <= len(messages):
            raise CheckpointUnavailable(f"There is no message {message_index}: choose 0 to {len(messages)} "
                                        f"(the conversation has {len(messages)} messages).")
        result = RestoreResult("rewind", index=message_index, root=str(self.root()))
        runs = [(i, r) for i, r in self.recorded_runs(messages) if i >= message_index and not r.get("undone")]
        undoable = [(i, r) for i, r in runs if r.get("before")]
        result.without_checkpoint = [(i, str(r.get("error") or "not recorded")) for i, r in runs if not r.get("before")]

        def undo_all() -> None:
            for index, record in reversed(undoable):
                self._undo_run(record, result)
                result.runs.append(index)

        branching = fork and bool(messages) and bool(getattr(interp, "conversation_history", False))
        if branching:  # first: if the conversation cannot be kept, nothing else happens
            from .conversation_text import title_for
            from .conversations import ConversationError, abranch, conversation_key

            result.kept_id = conversation_key(interp)
            try:
                info = await abranch(interp, message_index,
                                     title=f"{title_for(messages)} (rewound to message {message_index})")
            except (ConversationError, OSError) as exc:
                raise CheckpointUnavailable(f"Could not rewind: the conversation could not be kept ({exc}).") from None
            result.fork_id = info.id
        try:
            await self._in_thread(undo_all)
        except CheckpointError as exc:
            raise CheckpointUnavailable(f"Could not put the files back: {exc}.") from None
        if not branching:
            interp.truncate_messages(message_index)
        if replay_kernel:
            from .checkpoint_replay import replay_python

            result.replay = await replay_python(self, interp.messages)
        interp.bus.publish(FilesRestored("rewind", message_index, result.to_dict()))
        return result


def rewind_points(messages: list[dict[str, Any]], limit: int = 30) -> str:
    """The messages one can rewind to, numbered as `%rewind N` and `interpreter.rewind(N)` expect."""
    from .conversation_text import one_line

    rows: list[str] = []
    for index, message in enumerate(messages):
        role, kind = message.get("role"), message.get("type")
        if role == "user" and kind == "message":
            rows.append(f"  {index:>4}  you: {one_line(str(message.get('content') or ''), 60)}")
        elif role == "assistant" and kind == "code":
            record = record_of(message)
            state = summary_line(record) if record else "not run, or run without checkpoints"
            rows.append(f"  {index:>4}  {message.get('format') or 'code'} block: {state}")
    if not rows:
        return "Nothing to rewind to yet: the conversation is empty."
    shown = rows[-limit:]
    head = "Rewind to before one of these messages with %rewind N (add `replay` to rebuild the Python kernel):"
    more = [f"  … {len(rows) - limit} earlier point(s) not shown"] if len(rows) > limit else []
    return "\n".join([head, *more, *shown])


def _refuse_unsafe_root(root: Path) -> None:
    """Whole-disk and home-folder checkpoints would copy far too much: refuse them clearly."""
    from .checkpoint_git import CheckpointError

    if root == Path(root.anchor) or root == Path.home().resolve():
        raise CheckpointError(
            f"{root} is {'the root of the disk' if root == Path(root.anchor) else 'your home folder'}; checkpoints "
            "cover a project folder (start oi-tui in one, or set checkpoints: false)"
        )


def _what_changed(result: RestoreResult) -> str:
    parts = []
    if result.written:
        parts.append("restored " + ", ".join(result.written[:10]) + (" …" if len(result.written) > 10 else ""))
    if result.removed:
        parts.append("removed " + ", ".join(result.removed[:10]) + (" …" if len(result.removed) > 10 else ""))
    if result.failed:
        parts.append("could not restore " + ", ".join(p for p, _ in result.failed[:10]))
    return "; ".join(parts) or "no file needed restoring"


__all__ = ["AskAgain", "CheckpointUnavailable", "LIMITS", "ask_without_checkpoint", "rewind_points", "RECORD_KEY", "RestoreResult", "RunCheckpoints", "record_of", "state_dir", "summary_line"]
