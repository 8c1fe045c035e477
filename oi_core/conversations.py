"""Saved conversations: one crash-safe JSON file per conversation, a self-healing index, search and resume.

File layout (`<id>.json`, mode 0600, in a 0700 folder). The header sits alone on the first line so a
listing can read it without parsing the messages (which may hold large base64 images):

    {"header": {"id": ..., "title": ..., "created": ..., "updated": ..., "message_count": ..., "snippet": ...},
    "messages": [
    {...LMC message...},
    {...}
    ]}

A plain JSON list of LMC messages (the reference's format, or a hand-made file) is read too.
`.index.json` caches every file's header keyed by its size and mtime; it is only a cache, so a stale or
broken index is rebuilt from the headers. Files that cannot be read are reported in `store.problems`, and
are never overwritten or deleted by saving.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .conversation_text import UNTITLED, one_line, scrub_messages, search_text, snippet_for, title_for, fuzzy_score, content_score

FORMAT_VERSION = 1
INDEX_NAME = ".index.json"
HEADER_LINE_LIMIT = 64 * 1024
CRASH_HOOK_ENV = "OI_TUI_CONVERSATIONS_CRASH_BEFORE_RENAME"  # tests: exit between write and rename
_FSYNC = True  # benchmarks may switch this off while generating fixtures


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
    """Autosave found the target file unreadable and saved the conversation under a new id instead."""


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


def encode_conversation(header: dict[str, Any], messages: list[dict[str, Any]]) -> bytes:
    lines = ['{"header": ' + json.dumps(header, ensure_ascii=False) + ",", '"messages": [']
    body = [json.dumps(message, ensure_ascii=False) for message in messages]
    lines.append(",\n".join(body))
    lines.append("]}\n")
    return "\n".join(lines).encode("utf-8")


def _validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise ValueError("the messages are not a JSON list")
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise ValueError(f"message {number} is not a JSON object")
        if "role" not in message:
            raise ValueError(f"message {number} has no role")
    return messages


def decode_conversation(path: Path, raw: bytes) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(header or None, messages); raises ConversationCorrupt naming the file."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConversationCorrupt(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConversationCorrupt(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        if isinstance(data, list):
            return None, _validate_messages(data)
        if isinstance(data, dict) and "messages" in data:
            header = data.get("header")
            return (header if isinstance(header, dict) else None), _validate_messages(data["messages"])
        raise ValueError("neither a list of messages nor an oi-tui conversation")
    except ValueError as exc:
        raise ConversationCorrupt(path, str(exc)) from None


def header_for(conversation_id: str, messages: list[dict[str, Any]], *, created: str, updated: str,
               title: str | None = None, title_custom: bool = False) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "id": conversation_id,
        "title": one_line(title, 200) if title else title_for(messages),
        "title_custom": bool(title_custom and title),
        "created": created,
        "updated": updated,
        "message_count": len(messages),
        "snippet": snippet_for(messages),
    }


# ---------------------------------------------------------------- the store


class ConversationStore:
    """All conversations in one folder. Safe to share between threads."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_conversations_dir()
        self.problems: list[ConversationProblem] = []
        self._lock = threading.RLock()
        self._search_cache: dict[str, tuple[int, int, str]] = {}

    @classmethod
    def for_interpreter(cls, interpreter: Any) -> "ConversationStore":
        folder = getattr(interpreter, "conversation_history_path", None)
        filename = getattr(interpreter, "conversation_filename", None)
        if filename and os.path.isabs(os.path.expanduser(filename)):
            folder = os.path.dirname(os.path.expanduser(filename))
        return cls(folder)

    # ------------------------------------------------------------ paths

    def ensure_dir(self) -> Path:
        if not self.path.is_dir():
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.path, 0o700)
        elif self.path == default_conversations_dir():
            try:
                if self.path.stat().st_mode & 0o077:
                    os.chmod(self.path, 0o700)
            except OSError:
                pass
        return self.path

    def file_for(self, conversation_id: str) -> Path:
        return self.path / f"{check_id(conversation_id)}.json"

    def exists(self, conversation_id: str) -> bool:
        return self.file_for(conversation_id).exists()

    def new_id(self, base: str | None = None) -> str:
        """An id not used yet: `base`, `base-2`, `base-3`, ... (or a fresh random hex id)."""
        if base is None:
            import uuid

            return uuid.uuid4().hex[:12]
        for n in itertools.count(2):
            candidate = f"{base}-{n}"
            if not self.file_for(candidate).exists():
                return candidate
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ reading

    def _read_header(self, path: Path, stat: os.stat_result) -> dict[str, Any]:
        """The header from the first line; falls back to a full parse for other layouts."""
        with open(path, "rb") as handle:
            first = handle.readline(HEADER_LINE_LIMIT)
            if first.startswith(b'{"header": ') and first.rstrip().endswith(b","):
                try:
                    header = json.loads(first.rstrip()[:-1] + b"}")["header"]
                except (ValueError, KeyError):
                    header = None
                if isinstance(header, dict) and isinstance(header.get("message_count"), int):
                    handle.seek(max(0, stat.st_size - 16))
                    if handle.read().rstrip().endswith(b"]}"):
                        return header
                    raise ConversationCorrupt(path, "the file is cut short (it does not end the message list)")
            handle.seek(0)
            raw = handle.read()
        header, messages = decode_conversation(path, raw)
        stamp = datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(timespec="seconds")
        built = header_for(path.stem, messages, created=stamp, updated=stamp)
        if header:
            built.update({k: header[k] for k in ("title", "title_custom", "created", "updated") if k in header})
            built["message_count"] = len(messages)
        return built

    def _load_index(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / INDEX_NAME).read_bytes())
            if isinstance(data, dict) and data.get("version") == FORMAT_VERSION and isinstance(data.get("entries"), dict):
                return data["entries"]
        except (OSError, ValueError):
            pass
        return {}

    def _save_index(self, entries: dict[str, Any]) -> None:
        try:
            atomic_write(self.path / INDEX_NAME, json.dumps({"version": FORMAT_VERSION, "entries": entries}, ensure_ascii=False).encode())
        except OSError:
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
        return ConversationInfo(
            id=name[:-5],
            title=str(header.get("title") or UNTITLED),
            created=str(header.get("created") or ""),
            updated=str(header.get("updated") or header.get("created") or ""),
            message_count=int(header.get("message_count") or 0),
            snippet=str(header.get("snippet") or ""),
            folder=folder,
            title_custom=bool(header.get("title_custom")),
        )

    def info(self, conversation_id: str) -> ConversationInfo:
        path = self.file_for(conversation_id)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ConversationNotFound(f"no conversation {conversation_id!r} in {self.path}") from None
        return self._info(path.name, self._read_header(path, stat), self.path)

    def load_with_header(self, conversation_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
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

    def save(self, conversation_id: str, messages: list[dict[str, Any]], title: str | None = None,
             *, secrets: tuple[str, ...] = ()) -> Path:
        """Write the whole conversation atomically. Refuses (ConversationCorrupt) to replace an unreadable file."""
        path = self.file_for(conversation_id)
        with self._lock:
            self.ensure_dir()
            created = now_iso()
            title_custom = title is not None
            if path.exists():
                old = self._existing_header(path)
                created = str(old.get("created") or created)
                if title is None and old.get("title_custom"):
                    title, title_custom = str(old.get("title")), True
            clean = scrub_messages(list(messages), secrets)
            header = header_for(conversation_id, clean, created=created, updated=now_iso(), title=title, title_custom=title_custom)
            atomic_write(path, encode_conversation(header, clean))
        return path

    def _existing_header(self, path: Path) -> dict[str, Any]:
        try:
            return self._read_header(path, path.stat())
        except OSError as exc:
            raise ConversationCorrupt(path, f"cannot be read: {exc.strerror or exc}") from None

    def rename(self, conversation_id: str, title: str) -> ConversationInfo:
        title = one_line(title, 200)
        if not title:
            raise ValueError("a conversation title cannot be empty")
        with self._lock:
            header, messages = self.load_with_header(conversation_id)
            header = dict(header or {})
            path = self.file_for(conversation_id)
            created = str(header.get("created") or now_iso())
            updated = str(header.get("updated") or created)
            new_header = header_for(conversation_id, messages, created=created, updated=updated, title=title, title_custom=True)
            atomic_write(path, encode_conversation(new_header, messages))
            return self._info(path.name, new_header, self.path)

    def delete(self, conversation_id: str) -> None:
        path = self.file_for(conversation_id)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                raise ConversationNotFound(f"no conversation {conversation_id!r} in {self.path}") from None
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
        target.write_text(to_markdown(messages, title), encoding="utf-8")
        return target

    def export_notebook(self, conversation_id: str, path: str | os.PathLike[str]) -> Path:
        from .conversation_export import to_notebook

        header, messages = self.load_with_header(conversation_id)
        title = (header or {}).get("title") or title_for(messages)
        target = Path(path).expanduser()
        import nbformat

        nbformat.write(to_notebook(messages, title), str(target))
        return target


# ---------------------------------------------------------------- the core's hooks

_stores: dict[Path, ConversationStore] = {}
_stores_lock = threading.Lock()


def store_for(interpreter: Any) -> ConversationStore:
    """The shared store for the interpreter's conversation folder."""
    candidate = ConversationStore.for_interpreter(interpreter)
    with _stores_lock:
        return _stores.setdefault(candidate.path, candidate)


def conversation_key(interpreter: Any) -> str:
    """The id the interpreter's conversation is saved under: `conversation_filename`'s stem, else its id."""
    filename = getattr(interpreter, "conversation_filename", None)
    if filename:
        name = os.path.basename(os.path.expanduser(str(filename)))
        return name[:-5] if name.endswith(".json") else name
    return str(interpreter.conversation_id)


def _interpreter_secrets(interpreter: Any) -> tuple[str, ...]:
    found = []
    llm = getattr(interpreter, "llm", None)
    for name in ("api_key", "api_secret"):
        value = getattr(llm, name, None)
        if isinstance(value, str) and value:
            found.append(value)
    return tuple(found)


def autosave(interpreter: Any, messages: list[dict[str, Any]]) -> Path | None:
    """Save the interpreter's conversation now (called by the core after every completed message)."""
    if not getattr(interpreter, "conversation_history", False) or not messages:
        return None
    store = store_for(interpreter)
    key = conversation_key(interpreter)
    secrets = _interpreter_secrets(interpreter)
    try:
        return store.save(key, messages, secrets=secrets)
    except ConversationCorrupt as exc:
        new_key = store.new_id(key)
        store.save(new_key, messages, secrets=secrets)
        interpreter.conversation_filename = None
        interpreter.conversation_id = new_key
        raise ConversationRelocated(
            f"{exc.path} could not be read ({exc.reason}) and was left untouched; "
            f"this conversation is now saved as {store.file_for(new_key)}"
        ) from None


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

    Later autosaves go to the same file.
    """
    store = store or store_for(interpreter)
    return _adopt(interpreter, store, conversation_id, store.load(conversation_id), recent)


async def aresume(
    interpreter: Any, conversation_id: str, store: ConversationStore | None = None, recent: int = 40
) -> ResumeSplit:
    """resume() for callers on an event loop: the file is read in a thread, never on the loop."""
    import asyncio

    store = store or store_for(interpreter)
    messages = await asyncio.to_thread(store.load, conversation_id)
    return _adopt(interpreter, store, conversation_id, messages, recent)


def _adopt(interpreter: Any, store: ConversationStore, conversation_id: str, messages: list[dict[str, Any]],
           recent: int) -> ResumeSplit:
    interpreter.conversation_filename = None
    if store.path != ConversationStore.for_interpreter(interpreter).path:
        interpreter.conversation_history_path = str(store.path)
    interpreter.load_messages(messages, conversation_id=conversation_id)
    return split_for_resume(messages, recent)


__all__ = [
    "ConversationCorrupt",
    "ConversationError",
    "ConversationInfo",
    "ConversationNotFound",
    "ConversationProblem",
    "ConversationRelocated",
    "ConversationStore",
    "ResumeSplit",
    "aresume",
    "autosave",
    "default_conversations_dir",
    "resume",
    "split_for_resume",
    "store_for",
]
