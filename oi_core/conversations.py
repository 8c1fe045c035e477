"""Saved conversations: one crash-safe JSON file per conversation, saved incrementally, a self-healing index,
search, resume and forks.

File layout (`<id>.json`, mode 0600, in a 0700 folder): one message per line and the header on the last
line, so saving one more message rewrites only the end of the file and a listing reads only its last KiB:

    {"messages": [
    {...LMC message...},
    {...LMC message...}
    ],
    "header": {"version": 2, "id": ..., "title": ..., "updated": ..., "message_count": ..., "rev": ..., ...}}

Saving one more message (`autosave`): under the folder's lock file, check that the header still carries the
revision this process wrote last, overwrite the header line with the new message lines and a new header: one
small write, however long the conversation. A crash in the middle leaves a torn tail; reading drops the
incomplete line and keeps every complete message. Whole-file writes (the first save, after an undo or an
edit, rename, fork) go through `atomic_write` (temp file, fsync, rename).

Durability: a write alone survives the process being killed (the kernel has it); surviving an OS crash or a
power cut needs an fsync. `autosave(..., durable=False)` only writes, and `make_durable(paths)` fsyncs later:
the interpreter writes each message at once and fsyncs once when a turn ends (and at most `SYNC_DELAY`
seconds after a write while a turn runs), so an OS crash loses at most that last second.

A revision this process did not write means another process saved the same conversation meanwhile: rather than
overwrite its messages, this process's version continues in a fork (`ConversationForked`), so both are kept.

Older layouts are read too: version 1 (the header on the first line) and a plain JSON list of LMC messages (the
reference's format, or a hand-made file). `.index.json` caches every file's header keyed by its size and
mtime; it is only a cache, so a stale or broken index is rebuilt. Files that cannot be read are reported in
`store.problems`, and are never overwritten or deleted by saving.
"""

from __future__ import annotations

import dataclasses
import hashlib
import functools
import itertools
import json
import operator
import os
import re
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .conversation_text import UNTITLED, content_score, fuzzy_score, one_line, search_text, snippet_for, title_for
from .secrets import Redactor, redactor, watch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: writers in one process still serialise on the thread lock
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 2
INDEX_NAME = ".index.json"
LOCK_NAME = ".lock"
HEADER_LINE_LIMIT = 64 * 1024  # version 1 files: the header line
TAIL_BYTES = 16 * 1024  # version 2 files: the header line is found in this many bytes at the end
FULL_PARSE_LIMIT = 256 * 1024 * 1024  # a file without a header is parsed whole for a listing up to this size
CRASH_HOOK_ENV = "OI_TUI_CONVERSATIONS_CRASH_BEFORE_RENAME"  # tests: exit between write and rename
TORN_HOOK_ENV = "OI_TUI_CONVERSATIONS_CRASH_MID_APPEND"  # tests: write half an incremental save, then exit
REDO_HOOK_ENV = "OI_TUI_CONVERSATIONS_CRASH_AFTER_REDO"  # tests: exit once the redo record is written
_FSYNC = True  # benchmarks may switch this off while generating fixtures

_OPEN = b'{"messages": ['
_TRAILER = b'\n],\n"header": '
_V1_OPEN = b'{"header": '


class ConversationError(Exception):
    """Base class for conversation storage errors."""


class ConversationNotFound(ConversationError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "conversation not found"


class ConversationCorrupt(ConversationError):
    """A file that cannot be read as a conversation; it is left exactly as it is."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path} cannot be read as a conversation ({reason}); it was left untouched")


class ConversationRelocated(ConversationError):
    """Autosave could not continue the conversation's file and saved it under a new id instead (says where)."""


class ConversationForked(ConversationRelocated):
    """Another process saved the same conversation meanwhile: this process's version continues in a fork."""


@dataclass(frozen=True)
class ConversationProblem:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"Skipped {self.path.name}: {self.reason}"


@dataclass(frozen=True)
class ConversationInfo:
    """Listing metadata for one conversation (no messages)."""

    id: str
    title: str
    created: str
    updated: str
    message_count: int
    snippet: str
    folder: Path
    title_custom: bool = False
    forked_from: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / f"{self.id}.json"

    @property
    def updated_at(self) -> datetime:
        return parse_time(self.updated)

    @property
    def created_at(self) -> datetime:
        return parse_time(self.created)


@dataclass
class ResumeSplit:
    """Messages for the chat screen: `older` rendered lightly / lazily, `recent` rendered fully."""

    older: list[dict[str, Any]]
    recent: list[dict[str, Any]]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_recent_index(self) -> int:
        return len(self.older)


@dataclass
class SyncState:
    """What one writer (an interpreter) last saved of one conversation: the messages, by identity, and the revision."""

    conversation_id: str
    folder: Path
    rev: int
    writer: str
    messages: list[dict[str, Any]]
    ends: list[int] | None = None
    """Where each message's line ends in the file (None when unknown, e.g. just after a resume)."""

    def wrote(self, header: dict[str, Any]) -> bool:
        """True when the file's header is still the one this writer wrote last."""
        return header.get("rev") == self.rev and header.get("writer") == self.writer


# ---------------------------------------------------------------- helpers


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return datetime.fromtimestamp(0, timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def default_conversations_dir() -> Path:
    """platformdirs' user data dir (XDG_DATA_HOME honoured on Linux) / oi-tui / conversations."""
    import platformdirs

    return Path(platformdirs.user_data_dir("oi-tui", appauthor=False)) / "conversations"


_BAD_ID = re.compile(r"[/\\\x00]")


def check_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id or conversation_id.startswith(".") or _BAD_ID.search(conversation_id):
        raise ValueError(f"not a valid conversation id: {conversation_id!r}")
    return conversation_id


def new_writer_token() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _fsync_dir(path: Path) -> None:
    if not _FSYNC:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sync_file(fd: int) -> None:
    if _FSYNC:
        (getattr(os, "fdatasync", None) or os.fsync)(fd)


#: While a turn runs, a message written without fsync reaches the disk at most this many seconds later.
SYNC_DELAY = 1.0


def make_durable(paths: Iterable[Path]) -> None:
    """fsync conversation files written with `durable=False` (blocking: call it off the event loop)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # deleted or renamed since: nothing of ours left to keep
            continue
        try:
            _sync_file(fd)
        finally:
            os.close(fd)


STALE_TEMP_SECONDS = 3600


def _remove_stale_temp(entry: os.DirEntry[str]) -> None:
    try:
        if time.time() - entry.stat().st_mtime > STALE_TEMP_SECONDS:
            os.unlink(entry.path)
    except OSError:
        pass


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a mix (0600)."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if _FSYNC:
                os.fsync(handle.fileno())
        if os.environ.get(CRASH_HOOK_ENV):
            os._exit(int(os.environ[CRASH_HOOK_ENV]) or 70)  # simulated crash between write and rename
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _loads(raw: bytes | str) -> Any:
    """json.loads that reports nesting too deep for Python as a ValueError instead of a RecursionError."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


def encode_message(message: dict[str, Any]) -> bytes:
    """One message as one line of JSON (lone surrogates escaped rather than failing the whole save)."""
    try:
        try:
            return json.dumps(message, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(message, ensure_ascii=True, default=str).encode("ascii")
    except RecursionError:
        raise ConversationError("a message is nested too deeply to be saved") from None
    except (TypeError, ValueError) as exc:
        raise ConversationError(f"a message cannot be saved as JSON ({exc})") from None


def _line(red: Redactor, message: dict[str, Any]) -> bytes:
    """A message as saved: redacted, then one line of JSON."""
    try:
        return encode_message(red.message(message))
    except RecursionError:
        raise ConversationError("a message is nested too deeply to be saved") from None


def _encode_header(header: dict[str, Any]) -> bytes:
    return json.dumps(header, ensure_ascii=True).encode("ascii")


def _encode(header: dict[str, Any], lines: list[bytes]) -> bytes:
    return _OPEN + b"\n" + b",\n".join(lines) + _TRAILER + _encode_header(header) + b"}\n"


def _line_ends(lines: list[bytes], start: int) -> list[int]:
    """Where each line ends when the first starts at `start` and each is followed by ",\\n"."""
    ends = []
    for line in lines:
        ends.append(start + len(line))
        start += len(line) + 2
    return ends


def redo_path(path: Path) -> Path:
    """The redo record written before a save rewrites the end of `path` in place."""
    return path.with_name(f".{path.name}.redo")


_REDO_MAGIC = b"oi-tui redo 1\n"


def _forget_redo(path: Path) -> None:
    try:
        os.unlink(redo_path(path))
    except FileNotFoundError:
        pass


def _read_redo(path: Path, raw: bytes) -> bytes | None:
    """The file as the interrupted in-place save meant it to be, if a complete redo record for it exists."""
    try:
        record = redo_path(path).read_bytes()
    except OSError:
        return None
    if not record.startswith(_REDO_MAGIC):
        return None
    head, _, data = record[len(_REDO_MAGIC):].partition(b"\n")
    try:
        meta = _loads(head)
        offset, length, digest = int(meta["offset"]), int(meta["length"]), str(meta["sha256"])
    except (ValueError, KeyError, TypeError):
        return None
    if len(data) != length or hashlib.sha256(data).hexdigest() != digest or offset > len(raw):
        return None
    return raw[:offset] + data


def encode_conversation(header: dict[str, Any], messages: list[dict[str, Any]]) -> bytes:
    """The whole file for `messages` under `header` (messages are written as given: redact them first)."""
    return _encode(header, [encode_message(message) for message in messages])


def _validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise ValueError("the messages are not a JSON list")
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise ValueError(f"message {number} is not a JSON object")
        if "role" not in message:
            raise ValueError(f"message {number} has no role")
    return messages


def _message_line(line: bytes) -> dict[str, Any] | None:
    line = line.rstrip(b"\r")
    if line.endswith(b","):
        line = line[:-1]
    if not line.startswith(b"{"):
        return None
    try:
        value = _loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "role" in value else None


def _recover_torn(raw: bytes) -> list[dict[str, Any]] | None:
    """The complete messages of a version 2 file whose tail was cut by a crash; None if it is damaged elsewhere."""
    if not raw.startswith(_OPEN + b"\n"):
        return None
    lines = raw.split(b"\n")[1:]
    messages: list[dict[str, Any]] = []
    for number, line in enumerate(lines):
        message = _message_line(line)
        if message is None:
            # a torn tail has nothing readable after it; a damaged middle does (then it is not ours to repair)
            if any(_message_line(later) is not None for later in lines[number + 1 :]):
                return None
            return messages
        messages.append(message)
    return messages


def decode_conversation(path: Path, raw: bytes) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(header or None, messages); a torn tail is dropped; raises ConversationCorrupt naming the file."""
    try:
        data = _loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConversationCorrupt(path, f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        redone = _read_redo(path, raw)
        if redone is not None and redone != raw:
            return decode_conversation(path, redone)
        recovered = _recover_torn(raw)
        if recovered is not None:
            return None, recovered
        raise ConversationCorrupt(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise ConversationCorrupt(path, str(exc)) from None
    try:
        if isinstance(data, list):
            return None, _validate_messages(data)
        if isinstance(data, dict) and "messages" in data:
            header = data.get("header")
            return (header if isinstance(header, dict) else None), _validate_messages(data["messages"])
        raise ValueError("neither a list of messages nor an oi-tui conversation")
    except ValueError as exc:
        raise ConversationCorrupt(path, str(exc)) from None


@dataclass(frozen=True)
class _Tail:
    """The header line of a version 2 file, and where it starts (the next message goes there)."""

    header: dict[str, Any]
    offset: int
    size: int


def _read_tail(handle: Any, size: int) -> _Tail | None:
    """The version 2 header from the end of an open file, or None (another layout, or a torn tail)."""
    if size < len(_OPEN) + len(_TRAILER):
        return None
    handle.seek(0)
    if handle.read(len(_OPEN)) != _OPEN:
        return None
    start = max(0, size - TAIL_BYTES)
    handle.seek(start)
    chunk = handle.read(size - start)
    at = chunk.rfind(_TRAILER)
    if at < 0:
        return None
    rest = chunk[at + len(_TRAILER) :].rstrip(b"\n")
    if not rest.endswith(b"}}"):
        return None
    try:
        header = _loads(rest[:-1])
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(header.get("message_count"), int):
        return None
    return _Tail(header, start + at, size)


def _text(value: Any, limit: int) -> str:
    """A header field as text (headers in files are not trusted to hold strings)."""
    return value[:limit] if isinstance(value, str) else ""


def header_for(conversation_id: str, messages: list[dict[str, Any]], *, created: str, updated: str,
               title: str | None = None, title_custom: bool = False, rev: int = 1, writer: str = "",
               red: Redactor | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The header for `messages`; title and snippet pass the redactor (they are shown in listings)."""
    red = red or redactor()
    header = {
        "version": FORMAT_VERSION,
        "id": conversation_id,
        "title": red.text(one_line(title, 200) if title else title_for(messages)),
        "title_custom": bool(title_custom and title),
        "created": created,
        "updated": updated,
        "message_count": len(messages),
        "snippet": red.text(snippet_for(messages)),
        "rev": rev,
        "writer": writer,
    }
    header.update(extra or {})
    return header


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ---------------------------------------------------------------- the store


class ConversationStore:
    """All conversations in one folder. Safe to share between threads; writers in several processes take turns."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = _folder_path(path)
        self.problems: list[ConversationProblem] = []
        self._lock = threading.RLock()
        self._lock_depth = 0
        self._search_cache: dict[str, tuple[int, int, str]] = {}

    @classmethod
    def for_interpreter(cls, interpreter: Any) -> "ConversationStore":
        return cls(_folder_of(interpreter))

    # ------------------------------------------------------------ paths

    def ensure_dir(self) -> Path:
        if not self.path.is_dir():
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.path, 0o700)
        elif self._in_default_folder:
            try:
                if self.path.stat().st_mode & 0o077:
                    os.chmod(self.path, 0o700)
            except OSError:
                pass
        return self.path

    @functools.cached_property
    def _in_default_folder(self) -> bool:
        """Looked up once: the folder is checked on every save."""
        return self.path == default_conversations_dir()

    def file_for(self, conversation_id: str) -> Path:
        return self.path / f"{check_id(conversation_id)}.json"

    def exists(self, conversation_id: str) -> bool:
        return self.file_for(conversation_id).exists()

    def new_id(self, base: str | None = None) -> str:
        """An id not used yet: `base-2`, `base-3`, ... (or a fresh random hex id)."""
        if base is None:
            return uuid.uuid4().hex[:12]
        for n in itertools.count(2):
            candidate = f"{base}-{n}"
            if not self.file_for(candidate).exists():
                return candidate
        raise AssertionError("unreachable")

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the folder's write lock: threads of this process and other processes take turns (re-entrant)."""
        with self._lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            self.ensure_dir()
            fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_depth = 1
                yield
            finally:
                self._lock_depth = 0
                os.close(fd)  # closing releases the lock

    # ------------------------------------------------------------ reading

    def _read_header(self, path: Path, stat: os.stat_result) -> dict[str, Any]:
        """The header from the end (version 2) or the first line (version 1); other layouts are parsed whole."""
        with open(path, "rb") as handle:
            tail = _read_tail(handle, stat.st_size)
            if tail is not None:
                return tail.header
            handle.seek(0)
            first = handle.readline(HEADER_LINE_LIMIT)
            if first.startswith(_V1_OPEN) and first.rstrip().endswith(b","):
                try:
                    header = _loads(first.rstrip()[:-1] + b"}")["header"]
                except (ValueError, KeyError, TypeError):
                    header = None
                if isinstance(header, dict) and isinstance(header.get("message_count"), int):
                    handle.seek(max(0, stat.st_size - 16))
                    if handle.read().rstrip().endswith(b"]}"):
                        return header
                    raise ConversationCorrupt(path, "the file is cut short (it does not end the message list)")
            if stat.st_size > FULL_PARSE_LIMIT:
                raise ConversationCorrupt(path, f"too large ({stat.st_size // 2**20} MiB) to read without an oi-tui header")
            handle.seek(0)
            raw = handle.read()
        header, messages = decode_conversation(path, raw)
        stamp = datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(timespec="seconds")
        built = header_for(path.stem, messages, created=stamp, updated=stamp, rev=0)
        if header:
            built.update({k: header[k] for k in ("title", "title_custom", "created", "updated", "rev", "writer") if k in header})
            built["message_count"] = len(messages)
        return built

    def _load_index(self) -> dict[str, Any]:
        try:
            data = _loads((self.path / INDEX_NAME).read_bytes())
            if isinstance(data, dict) and data.get("version") == FORMAT_VERSION and isinstance(data.get("entries"), dict):
                return data["entries"]
        except (OSError, ValueError):
            pass
        return {}

    def _save_index(self, entries: dict[str, Any]) -> None:
        try:
            atomic_write(self.path / INDEX_NAME, json.dumps({"version": FORMAT_VERSION, "entries": entries}, ensure_ascii=False).encode())
        except (OSError, ValueError):
            pass  # the index is only a cache

    def list(self) -> list[ConversationInfo]:
        """Every readable conversation, newest first; unreadable files go to `self.problems`."""
        with self._lock:
            problems: list[ConversationProblem] = []
            if not self.path.is_dir():
                self.problems = problems
                return []
            entries = self._load_index()
            fresh: dict[str, Any] = {}
            changed = False
            infos: list[ConversationInfo] = []
            with os.scandir(self.path) as scan:
                for entry in scan:
                    name = entry.name
                    if name.startswith(".") and name.endswith(".tmp"):
                        _remove_stale_temp(entry)  # left by a crash between write and rename
                        continue
                    if name.startswith(".") or not name.endswith(".json"):
                        continue
                    try:
                        stat = entry.stat()
                    except OSError:
                        continue
                    if not entry.is_file():
                        continue
                    cached = entries.get(name)
                    if not (isinstance(cached, dict) and cached.get("mtime_ns") == stat.st_mtime_ns and cached.get("size") == stat.st_size):
                        changed = True
                        cached = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size}
                        try:
                            cached["header"] = self._read_header(Path(entry.path), stat)
                        except ConversationCorrupt as exc:
                            cached["error"] = exc.reason
                        except OSError as exc:
                            cached["error"] = f"cannot be read: {exc.strerror or exc}"
                    fresh[name] = cached
                    if "error" in cached or not isinstance(cached.get("header"), dict):
                        problems.append(ConversationProblem(Path(entry.path), str(cached.get("error", "no header"))))
                        continue
                    infos.append(self._info(name, cached["header"], self.path))
            if changed or len(fresh) != len(entries):
                self._save_index(fresh)
            self.problems = problems
        infos.sort(key=lambda info: (info.updated, info.created, info.id), reverse=True)
        return infos

    @staticmethod
    def _info(name: str, header: dict[str, Any], folder: Path) -> ConversationInfo:
        forked_from = header.get("forked_from")
        return ConversationInfo(
            id=name[:-5],
            title=_text(header.get("title"), 200) or UNTITLED,
            created=_text(header.get("created"), 40),
            updated=_text(header.get("updated"), 40) or _text(header.get("created"), 40),
            message_count=_int(header.get("message_count")),
            snippet=_text(header.get("snippet"), 200),
            folder=folder,
            title_custom=header.get("title_custom") is True,
            forked_from=forked_from if isinstance(forked_from, str) else None,
        )

    def info(self, conversation_id: str) -> ConversationInfo:
        path = self.file_for(conversation_id)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ConversationNotFound(f"no conversation {conversation_id!r} in {self.path}") from None
        return self._info(path.name, self._read_header(path, stat), self.path)

    def load_with_header(self, conversation_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """(header or None, messages); the header is None for other layouts and after a torn tail was dropped."""
        path = self.file_for(conversation_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ConversationNotFound(f"no conversation {conversation_id!r} in {self.path}") from None
        try:
            return decode_conversation(path, raw)
        except ConversationCorrupt as exc:
            with self._lock:
                if not any(p.path == path for p in self.problems):
                    self.problems.append(ConversationProblem(path, exc.reason))
            raise

    def load(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's LMC messages (raises ConversationNotFound / ConversationCorrupt)."""
        return self.load_with_header(conversation_id)[1]

    # ------------------------------------------------------------ writing

    def _disk_header(self, path: Path) -> dict[str, Any] | None:
        """The header of the file now (None when there is none); raises ConversationCorrupt for an unreadable file."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        try:
            return self._read_header(path, stat)
        except OSError as exc:
            raise ConversationCorrupt(path, f"cannot be read: {exc.strerror or exc}") from None

    def _write_whole(self, conversation_id: str, messages: list[dict[str, Any]], red: Redactor, *,
                     old: dict[str, Any] | None, title: str | None = None, writer: str = "",
                     extra: dict[str, Any] | None = None) -> list[int]:
        """Replace the whole file atomically; returns where each message's line ends."""
        path = self.file_for(conversation_id)
        old = old or {}
        title_custom = title is not None
        if title is None and old.get("title_custom") is True and isinstance(old.get("title"), str):
            title, title_custom = old["title"], True
        kept = {k: old[k] for k in ("forked_from", "forked_at") if k in old}
        header = header_for(
            conversation_id, messages, created=_text(old.get("created"), 40) or now_iso(), updated=now_iso(),
            title=title, title_custom=title_custom, rev=_int(old.get("rev")) + 1, writer=writer, red=red,
            extra={**kept, **(extra or {})},
        )
        lines = [_line(red, m) for m in messages]
        atomic_write(path, _encode(header, lines))
        _forget_redo(path)
        return _line_ends(lines, len(_OPEN) + 1)

    def save(self, conversation_id: str, messages: list[dict[str, Any]], title: str | None = None,
             *, secrets: tuple[str, ...] = ()) -> Path:
        """Write the whole conversation atomically. Refuses (ConversationCorrupt) to replace an unreadable file."""
        red = redactor(extra=secrets)
        with self.writing():
            old = self._disk_header(self.file_for(conversation_id))
            self._write_whole(conversation_id, list(messages), red, old=old, title=title)
            return self.file_for(conversation_id)

    def sync(self, conversation_id: str, messages: list[dict[str, Any]], state: SyncState | None,
             red: Redactor, *, durable: bool = True) -> SyncState:
        """Bring the file up to `messages` for the writer whose last save is `state`; returns its new state.

        When the file still holds exactly what this writer saved last, only what changed is written: new
        messages are appended (one small write), and a message replaced near the end (an edit, a run's
        record) rewrites the file from that message on, in place, behind a redo record. Otherwise the whole
        file is rewritten; and when the file holds messages this writer does not have (another process
        saved meanwhile) this writer forks (ConversationForked, with `.state`), so neither version is lost.
        With `durable=False` an append or in-place rewrite is written but not fsync'ed (see `make_durable`).
        """
        path = self.file_for(conversation_id)
        with self.writing():
            writer = state.writer if state is not None else new_writer_token()
            tail = None
            try:
                with open(path, "rb") as handle:
                    tail = _read_tail(handle, os.fstat(handle.fileno()).st_size)
                exists = True
            except FileNotFoundError:
                exists = False
            if tail is not None and state is not None and state.conversation_id == conversation_id and state.wrote(tail.header):
                known = len(state.messages)
                same = min(len(messages), known)  # how many messages are still the very ones saved
                if not all(map(operator.is_, messages[:same], state.messages[:same])):  # at C speed: the usual case
                    same = next(k for k, (a, b) in enumerate(zip(messages, state.messages)) if a is not b)
                if same == known == len(messages):
                    return state
                if state.ends is not None and tail.offset != (state.ends[-1] if state.ends else len(_OPEN) + 1):
                    state = dataclasses.replace(state, ends=None)  # re-encoded by someone (a rename): offsets unknown
                if same == known or state.ends is not None:
                    return self._write_from(path, tail, messages, same, state, red, durable)
                old: dict[str, Any] | None = tail.header
            elif exists:
                old, on_disk = self.load_with_header(conversation_id)
                if old is None:
                    old = self._disk_header(path)
                if not _same_saved(on_disk, messages, red):
                    raise self._fork(conversation_id, old or {}, messages, writer, red)
            else:
                old = None
            ends = self._write_whole(conversation_id, messages, red, old=old, writer=writer)
            rev = _int((old or {}).get("rev")) + 1
            return SyncState(conversation_id, self.path, rev, writer, list(messages), ends)

    def _write_from(self, path: Path, tail: _Tail, messages: list[dict[str, Any]], first: int, state: SyncState,
                    red: Redactor, durable: bool = True) -> SyncState:
        """Rewrite the file from message `first` on: an append when `first` is past what was saved, otherwise a
        rewrite of the end in place, made safe by a redo record (a crash leaves the old file or the new one)."""
        old = tail.header
        title = old.get("title") if old.get("title_custom") is True else None
        kept = {k: old[k] for k in ("forked_from", "forked_at") if k in old}
        rev = _int(old.get("rev")) + 1
        header = header_for(
            state.conversation_id, messages, created=_text(old.get("created"), 40) or now_iso(), updated=now_iso(),
            title=title if isinstance(title, str) else None, title_custom=title is not None, rev=rev,
            writer=state.writer, red=red, extra=kept,
        )
        lines = [_line(red, m) for m in messages[first:]]
        appending = first == len(state.messages)
        if first == 0:
            offset, body = len(_OPEN), b"\n" + b",\n".join(lines)
        else:
            offset = tail.offset if appending else state.ends[first - 1]  # type: ignore[index]
            body = (b",\n" + b",\n".join(lines)) if lines else b""
        data = body + _TRAILER + _encode_header(header) + b"}\n"
        if appending:
            _forget_redo(path)  # a record left by a crash must never be applied over later saves
        else:
            self._write_redo(path, offset, data, rev, durable)
        fd = os.open(path, os.O_WRONLY)
        try:
            if not appending:
                os.ftruncate(fd, offset)  # nothing of the old end may remain after the new one
            if os.environ.get(TORN_HOOK_ENV):
                os.pwrite(fd, data[: len(data) // 2], offset)
                os._exit(int(os.environ[TORN_HOOK_ENV]) or 71)  # simulated crash in the middle of a save
            written = 0
            while written < len(data):
                written += os.pwrite(fd, data[written:], offset + written)
            end = offset + len(data)
            if appending and end < tail.size:
                os.ftruncate(fd, end)
            if durable:
                _sync_file(fd)
        finally:
            os.close(fd)
        if not appending:
            _forget_redo(path)
        first_start = len(_OPEN) + 1 if first == 0 else offset + 2
        ends = None if state.ends is None else state.ends[:first] + _line_ends(lines, first_start)
        return SyncState(state.conversation_id, self.path, rev, state.writer, list(messages), ends)

    @staticmethod
    def _write_redo(path: Path, offset: int, data: bytes, rev: int, durable: bool = True) -> None:
        meta = json.dumps({"offset": offset, "length": len(data), "sha256": hashlib.sha256(data).hexdigest(), "rev": rev})
        record = redo_path(path)
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb", closefd=False) as handle:
                handle.write(_REDO_MAGIC + meta.encode("ascii") + b"\n" + data)
            if durable:
                _sync_file(fd)
        finally:
            os.close(fd)
        if os.environ.get(REDO_HOOK_ENV):
            os._exit(int(os.environ[REDO_HOOK_ENV]) or 72)  # simulated crash after the redo record, before the rewrite

    def _fork(self, conversation_id: str, old: dict[str, Any], messages: list[dict[str, Any]], writer: str,
              red: Redactor) -> ConversationForked:
        """Save `messages` as a new conversation next to one another process changed; the error says where."""
        new_id = self.new_id(conversation_id)
        original = _text(old.get("title"), 200) or title_for(messages)
        title = f"{original} (fork)"
        ends = self._write_whole(new_id, messages, red, old=None, title=title, writer=writer,
                                 extra={"forked_from": conversation_id})
        path = self.file_for(new_id)
        error = ConversationForked(
            f"Another oi-tui process also saved “{original}” meanwhile; to keep both, this conversation "
            f"continues as “{title}” ({path})."
        )
        error.state = SyncState(new_id, self.path, 1, writer, list(messages), ends)  # type: ignore[attr-defined]
        return error

    def fork(self, conversation_id: str, upto: int | None = None, *, title: str | None = None) -> ConversationInfo:
        """A new conversation holding the first `upto` messages of another (all when None); the source is untouched."""
        with self.writing():
            header, messages = self.load_with_header(conversation_id)
            count = len(messages) if upto is None else upto
            if not 0 <= count <= len(messages):
                raise ValueError(f"cannot fork at message {upto}: the conversation has {len(messages)} messages")
            original = _text((header or {}).get("title"), 200) or title_for(messages)
            new_id = self.new_id(conversation_id)
            self._write_whole(new_id, messages[:count], redactor(), old=None, title=title or f"{original} (fork)",
                              extra={"forked_from": conversation_id, "forked_at": count})
            return self.info(new_id)

    def rename(self, conversation_id: str, title: str) -> ConversationInfo:
        title = one_line(title, 200)
        if not title:
            raise ValueError("a conversation title cannot be empty")
        with self.writing():
            header, messages = self.load_with_header(conversation_id)
            path = self.file_for(conversation_id)
            header = dict(header or self._disk_header(path) or {})
            new_header = {**header_for(conversation_id, messages, created=_text(header.get("created"), 40) or now_iso(),
                                       updated=_text(header.get("updated"), 40) or now_iso(), title=title,
                                       title_custom=True),
                          **{k: header[k] for k in ("forked_from", "forked_at") if k in header},
                          "rev": _int(header.get("rev")), "writer": header.get("writer") or ""}
            # a rename keeps the revision: a process appending to this conversation carries the new title on
            atomic_write(path, encode_conversation(new_header, messages))
            _forget_redo(path)
            return self._info(path.name, new_header, self.path)

    def delete(self, conversation_id: str) -> None:
        path = self.file_for(conversation_id)
        with self.writing():
            try:
                path.unlink()
            except FileNotFoundError:
                raise ConversationNotFound(f"no conversation {conversation_id!r} in {self.path}") from None
            _forget_redo(path)
            _fsync_dir(self.path)
            self._search_cache.pop(conversation_id, None)

    # ------------------------------------------------------------ search

    def _content(self, info: ConversationInfo) -> str:
        try:
            stat = info.path.stat()
        except OSError:
            return ""
        cached = self._search_cache.get(info.id)
        if cached and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
            return cached[2]
        try:
            text = search_text(self.load(info.id))
        except (ConversationError, OSError):
            text = ""
        self._search_cache[info.id] = (stat.st_mtime_ns, stat.st_size, text)
        return text

    def search(self, query: str, conversations: list[ConversationInfo] | None = None) -> list[ConversationInfo]:
        """Fuzzy search over titles (and snippets), plus every query word over contents; best first."""
        infos = self.list() if conversations is None else conversations
        query = query.strip()
        if not query:
            return list(infos)
        scored: list[tuple[float, str, ConversationInfo]] = []
        for info in infos:
            score = fuzzy_score(query, info.title) * 2  # substring >= 6, all words >= 4, scattered <= 3
            if score < 4:
                score = max(score, content_score(query, self._content(info)) * 3.5)
            if score > 0:
                scored.append((score, info.updated, info))
        scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [info for _, _, info in scored]

    # ------------------------------------------------------------ export

    def export_markdown(self, conversation_id: str, path: str | os.PathLike[str]) -> Path:
        from .conversation_export import to_markdown

        header, messages = self.load_with_header(conversation_id)
        title = (header or {}).get("title") or title_for(messages)
        target = Path(path).expanduser()
        target.write_text(to_markdown(messages, str(title)), encoding="utf-8")
        return target

    def export_notebook(self, conversation_id: str, path: str | os.PathLike[str]) -> Path:
        from .conversation_export import to_notebook

        header, messages = self.load_with_header(conversation_id)
        title = (header or {}).get("title") or title_for(messages)
        target = Path(path).expanduser()
        import nbformat

        nbformat.write(to_notebook(messages, str(title)), str(target))
        return target


# ---------------------------------------------------------------- the core's hooks

_stores: dict[Path, ConversationStore] = {}
_stores_lock = threading.Lock()
#: Each interpreter's last save (by identity of its messages), to append rather than rewrite.
_synced: "weakref.WeakKeyDictionary[Any, SyncState]" = weakref.WeakKeyDictionary()


def _folder_path(folder: str | os.PathLike[str] | None) -> Path:
    """A conversation folder as given (None: the default folder)."""
    return Path(folder).expanduser() if folder else default_conversations_dir()


def _folder_of(interpreter: Any) -> str | None:
    """The folder the interpreter's conversations are saved in, as set (None: the default folder)."""
    folder = getattr(interpreter, "conversation_history_path", None)
    filename = getattr(interpreter, "conversation_filename", None)
    if filename and os.path.isabs(os.path.expanduser(filename)):
        folder = os.path.dirname(os.path.expanduser(filename))
    return folder


def store_for(interpreter: Any) -> ConversationStore:
    """The shared store for the interpreter's conversation folder (looked up per message: no new store each time)."""
    return _shared_store(_folder_path(_folder_of(interpreter)))


def _shared_store(folder: Path) -> ConversationStore:
    with _stores_lock:
        store = _stores.get(folder)
        if store is None:
            store = _stores[folder] = ConversationStore(folder)
        return store


def conversation_key(interpreter: Any) -> str:
    """The id the interpreter's conversation is saved under: `conversation_filename`'s stem, else its id."""
    filename = getattr(interpreter, "conversation_filename", None)
    if filename:
        name = os.path.basename(os.path.expanduser(str(filename)))
        return name[:-5] if name.endswith(".json") else name
    return str(interpreter.conversation_id)


def _same_saved(on_disk: list[dict[str, Any]], messages: list[dict[str, Any]], red: Redactor) -> bool:
    """True when the saved messages are exactly how `messages` begins (as saving would write them)."""
    if len(on_disk) > len(messages):
        return False
    return all(saved == _loads(_line(red, m)) for saved, m in zip(on_disk, messages))


def _switch(interpreter: Any, state: SyncState, current: bool = True) -> None:
    """Continue under the new id (only if the interpreter is still on that conversation)."""
    if current:
        interpreter.conversation_filename = None
        interpreter.conversation_id = state.conversation_id
    _synced[interpreter] = state


def _save(interpreter: Any, messages: list[dict[str, Any]], conversation_id: str | None = None,
          folder: str | None = None, durable: bool = True) -> SyncState:
    store = store_for(interpreter) if folder is None else _shared_store(Path(folder))
    key = conversation_id or conversation_key(interpreter)
    current = conversation_key(interpreter) == key and store.path == store_for(interpreter).path
    llm = getattr(interpreter, "llm", None)
    if llm is not None:
        watch(llm)  # its key is redacted from everything printed or stored from now on, interpreter or not
    red = redactor(interpreter)
    with store.writing():
        state = _synced.get(interpreter)
        if state is not None and (state.conversation_id != key or state.folder != store.path):
            state = None
        try:
            _synced[interpreter] = store.sync(key, messages, state, red, durable=durable)
        except ConversationForked as exc:
            _switch(interpreter, exc.state, current)  # type: ignore[attr-defined]
            raise
        except ConversationCorrupt as exc:
            new_key = store.new_id(key)
            _switch(interpreter, store.sync(new_key, messages, None, red), current)
            raise ConversationRelocated(
                f"{exc.path} could not be read ({exc.reason}) and was left untouched; "
                f"this conversation is now saved as {store.file_for(new_key)}"
            ) from None
        return _synced[interpreter]


def autosave(interpreter: Any, messages: list[dict[str, Any]], *, conversation_id: str | None = None,
             folder: str | None = None, durable: bool = True) -> Path | None:
    """Save the interpreter's conversation now (called by the core after every completed message).

    `conversation_id` and `folder` name the conversation when it is not the interpreter's current one (a
    save captured before a reset). Only what is new since this interpreter's last save is written. Raises
    ConversationRelocated (or ConversationForked) after saving under a new id, with the sentence to show.
    With `durable=False` the file is written but not fsync'ed: pass the returned path to `make_durable` later.
    """
    if not getattr(interpreter, "conversation_history", False) or not messages:
        return None
    state = _save(interpreter, messages, conversation_id, folder, durable)
    return state.folder / f"{state.conversation_id}.json"


def branch(interpreter: Any, upto: int, *, title: str | None = None) -> ConversationInfo:
    """Keep the current conversation as it is and continue the interpreter in a fork of its first `upto` messages.

    The interpreter's messages become those `upto` messages, under the fork's id. Blocking (disk): call it
    off the event loop, or use `abranch`.
    """
    messages = list(interpreter.messages)
    if not 0 <= upto <= len(messages):
        raise ValueError(f"cannot branch at message {upto}: the conversation has {len(messages)} messages")
    store = store_for(interpreter)
    with store.writing():
        _save(interpreter, messages)
        info = store.fork(conversation_key(interpreter), upto, title=title)
        interpreter.conversation_filename = None
        interpreter.load_messages(messages[:upto], conversation_id=info.id)
        _synced[interpreter] = SyncState(info.id, store.path, 1, "", list(interpreter.messages))
    return info


async def abranch(interpreter: Any, upto: int, *, title: str | None = None) -> ConversationInfo:
    """branch() for callers on an event loop: the disk work runs in a thread."""
    import asyncio

    return await asyncio.to_thread(branch, interpreter, upto, title=title)


def split_for_resume(messages: list[dict[str, Any]], recent: int = 40) -> ResumeSplit:
    """Split for fast resume: the last `recent` messages (widened back to the start of that user turn when
    that is close by) are rendered fully, everything before lightly or lazily."""
    count = len(messages)
    cut = max(0, count - max(recent, 0))
    if cut > 0:
        slack = max(recent // 2, 1)
        for index in range(cut, max(cut - slack, 0) - 1, -1):
            message = messages[index]
            if message.get("role") == "user" and message.get("type", "message") == "message":
                cut = index
                break
    return ResumeSplit(older=list(messages[:cut]), recent=list(messages[cut:]), messages=list(messages))


def resume(interpreter: Any, conversation_id: str, store: ConversationStore | None = None, recent: int = 40) -> ResumeSplit:
    """Load a saved conversation into the interpreter (the model sees it all next turn) and split it for display.

    Later autosaves append to the same file.
    """
    store = store or store_for(interpreter)
    header, messages = store.load_with_header(conversation_id)
    return _adopt(interpreter, store, conversation_id, header, messages, recent)


async def aresume(
    interpreter: Any, conversation_id: str, store: ConversationStore | None = None, recent: int = 40
) -> ResumeSplit:
    """resume() for callers on an event loop: the file is read in a thread, never on the loop."""
    import asyncio

    store = store or store_for(interpreter)
    header, messages = await asyncio.to_thread(store.load_with_header, conversation_id)
    return _adopt(interpreter, store, conversation_id, header, messages, recent)


def _adopt(interpreter: Any, store: ConversationStore, conversation_id: str, header: dict[str, Any] | None,
           messages: list[dict[str, Any]], recent: int) -> ResumeSplit:
    interpreter.conversation_filename = None
    if store.path != ConversationStore.for_interpreter(interpreter).path:
        interpreter.conversation_history_path = str(store.path)
    interpreter.load_messages(messages, conversation_id=conversation_id)
    if header is not None and isinstance(header.get("rev"), int):
        # the next autosave appends, unless another process saved this conversation since it was read
        _synced[interpreter] = SyncState(conversation_id, store.path, header["rev"], str(header.get("writer") or ""),
                                         list(interpreter.messages))
    else:
        _synced.pop(interpreter, None)
    return split_for_resume(messages, recent)


__all__ = [
    "ConversationCorrupt",
    "ConversationError",
    "ConversationForked",
    "ConversationInfo",
    "ConversationNotFound",
    "ConversationProblem",
    "ConversationRelocated",
    "ConversationStore",
    "ResumeSplit",
    "SyncState",
    "abranch",
    "aresume",
    "atomic_write",
    "autosave",
    "branch",
    "default_conversations_dir",
    "make_durable",
    "resume",
    "split_for_resume",
    "store_for",
]
