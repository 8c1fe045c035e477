"""`CoreClient`: everything a front end may do with a core, whether it runs in this process or on a server.

Two implementations share this interface: `LocalClient` (oi_core.client_local: the interpreter, its bus and
a Session in this process) and `RemoteClient` (oi_core.client_remote: a WebSocket to `oi-tui --server`).
A front end holds one client and nothing else of the core:

- `client.bus` carries the core's events in order (the TUI's bridge subscribes to it);
- `client.state` mirrors what the front end shows (model, profile, auto-run, safe mode, rules, spend,
  the conversation's messages, status);
- turn actions are fire-and-forget and answered by events; queries are coroutines that raise `OiError`
  with one sentence when they fail.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .bus import EventBus
from .checkpoints import last_undoable_in, runs_in
from .events import Event, frozen_event

ExportFormat = Literal["markdown", "notebook"]


@frozen_event
class ConnectionLost(Event):
    """The connection to a remote core dropped; the client retries in `retry_in` seconds (typed input waits)."""

    reason: str
    retry_in: float = 0.0


@frozen_event
class ConnectionRestored(Event):
    """The connection is back; `resumed` is False when the server had ended the session (a new one started)."""

    resumed: bool = True
    detail: str = ""


@dataclass
class CoreState:
    """What a front end shows about the core; a remote client keeps it current from the server's events."""

    model: str = ""
    profile: str | None = None
    auto_run: bool = False
    safe_mode: str = "off"
    allow_rules: list[dict[str, Any]] = field(default_factory=list)
    total_cost: float = 0.0
    conversation_id: str = ""
    status: str = "idle"
    busy: bool = False
    api_base: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def update(self, snapshot: dict[str, Any]) -> None:
        """Take the fields a server snapshot carries (messages only when it carries them)."""
        for name in ("model", "profile", "auto_run", "safe_mode", "total_cost", "conversation_id", "status",
                     "busy", "api_base"):
            if name in snapshot:
                setattr(self, name, snapshot[name])
        if "allow_rules" in snapshot:
            self.allow_rules = [dict(rule) for rule in snapshot["allow_rules"] or []]
        if "messages" in snapshot:
            self.messages = list(snapshot["messages"] or [])


@dataclass(frozen=True)
class ConversationListing:
    """The navigator's list: conversations newest first, files that could not be read, and the folder."""

    infos: list[Any]  # oi_core.conversations.ConversationInfo
    problems: list[tuple[str, str]]  # (path, reason)
    folder: str


@dataclass(frozen=True)
class ProfileEntry:
    name: str
    source: str  # "shipped" | "user"
    path: str


class CoreClient(ABC):
    """One core, seen from a front end (see the module docstring)."""

    remote: bool = False
    bus: EventBus
    interpreter: Any = None  # the in-process interpreter; None for a remote core

    # ------------------------------------------------------------ lifecycle

    @property
    @abstractmethod
    def state(self) -> Any:
        """A CoreState (or an object with the same attributes, read live)."""

    @property
    @abstractmethod
    def busy(self) -> bool:
        """A turn (generation, approval, a run, an input() question) is in progress."""

    @abstractmethod
    async def start(self) -> None:
        """Get ready to use (attach the session, or connect and receive the state)."""

    def warm_up(self) -> None:
        """Start slow things in the background (litellm import, a kernel); nothing for a remote core."""

    async def warmed_up(self) -> None:
        """Returns once the warm-up's kernel and first checkpoint are ready (at once for a remote core)."""

    def user_typed(self) -> None:
        """The user pressed a key: background warm-up that holds the GIL waits for a pause (nothing remote)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop what runs here and let go (in-process: kernels end and the conversation is saved)."""

    def describe(self) -> str:
        """Where the core runs, for titles and messages."""
        return "this machine"

    # ------------------------------------------------------------ turns (answered by bus events)

    @abstractmethod
    def send(self, text: str, images: tuple[str, ...] = ()) -> None:
        """A user message (a `%` line is a magic command); `images` are paths on this machine."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def approve(self, request_id: str, code: str, confirmed_incomplete: bool = False) -> None:
        """Run the pending block `request_id`: exactly `code` (the model's, or the user's edit)."""

    @abstractmethod
    def skip(self, request_id: str, reason: str = "", how: str = "skip") -> None:
        """Do not run the pending block; `how` is "skip", "escape" or "fix" (see events.CodeSkipped)."""

    @abstractmethod
    def request_scan(self, request_id: str) -> None: ...

    @abstractmethod
    def add_allow_rule(self, rule: dict[str, Any], save: bool = True) -> None: ...

    @abstractmethod
    def remove_allow_rule(self, rule: dict[str, Any], save: bool = True) -> None: ...

    @abstractmethod
    def answer_input(self, request_id: str, text: str) -> None: ...

    @abstractmethod
    def set_setting(self, path: str, value: Any) -> None:
        """Answered by SettingsApplied, or ErrorRaised("settings", ...) when refused."""

    def publish(self, event: Event) -> None:
        """A client event of the bus contract (CodeApproved, CodeSkipped ...) sent to the core by this client's
        way; any other event is shown locally (e.g. an ErrorRaised the front end found itself)."""
        from . import events as ev

        if isinstance(event, ev.UserMessageSent):
            self.send(event.content, event.images)
        elif isinstance(event, ev.CodeApproved):
            self.approve(event.request_id, event.code, event.confirmed_incomplete)
        elif isinstance(event, ev.CodeSkipped):
            self.skip(event.request_id, event.reason, event.how)
        elif isinstance(event, ev.ScanRequested):
            self.request_scan(event.request_id)
        elif isinstance(event, ev.AllowRuleAdded):
            self.add_allow_rule(event.rule, event.save)
        elif isinstance(event, ev.AllowRuleRemoved):
            self.remove_allow_rule(event.rule, event.save)
        elif isinstance(event, ev.InputAnswered):
            self.answer_input(event.request_id, event.text)
        elif isinstance(event, ev.StopRequested):
            self.stop()
        elif isinstance(event, ev.SettingChanged):
            self.set_setting(event.path, event.value)
        else:
            self.bus.publish(event)

    # ------------------------------------------------------------ queries (raise OiError)

    @abstractmethod
    async def new_conversation(self) -> None: ...

    @abstractmethod
    async def list_conversations(self) -> ConversationListing: ...

    @abstractmethod
    async def search_conversations(self, query: str, infos: list[Any] | None = None) -> list[Any]: ...

    @abstractmethod
    async def load_conversation(self, conversation_id: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def resume_conversation(self, conversation_id: str) -> None: ...

    @abstractmethod
    async def rename_conversation(self, conversation_id: str, title: str) -> Any: ...

    @abstractmethod
    async def delete_conversation(self, conversation_id: str) -> None: ...

    @abstractmethod
    async def export_conversation(self, conversation_id: str, fmt: ExportFormat, path: str | Path) -> Path:
        """Write the export to `path` on this machine (the text is made where the conversation is)."""

    @abstractmethod
    async def list_profiles(self) -> list[ProfileEntry]: ...

    @abstractmethod
    async def switch_profile(self, name: str) -> list[str]:
        """Apply a profile to the core; returns problems to show (empty when it loaded cleanly)."""

    @abstractmethod
    async def undo(self) -> Any:
        """Undo the last run's file changes: a checkpoints.RestoreResult."""

    @abstractmethod
    async def rewind(self, index: int, replay_kernel: bool = False) -> Any: ...

    @abstractmethod
    async def run_changes(self, record: dict[str, Any]) -> tuple[list[Any], str]:
        """(FileChange list, unified diff) of one recorded run."""

    # ------------------------------------------------------------ from the mirrored conversation

    def recorded_runs(self, messages: list[dict[str, Any]] | None = None) -> list[tuple[int, dict[str, Any]]]:
        """(message index, record) of every run whose file changes were recorded, oldest first."""
        return list(runs_in(self.state.messages if messages is None else messages))

    def runs_newest_first(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """recorded_runs() from the newest, lazily: the footer asks on every key, so a check stops early."""
        return runs_in(self.state.messages, newest_first=True)

    def last_undoable(self) -> tuple[int, dict[str, Any]] | None:
        return last_undoable_in(self.state.messages)
