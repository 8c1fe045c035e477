"""Every event that crosses the bus between the core and its clients, in one place.

The core publishes the *Core events*; clients (the TUI, plain mode, a future server) publish the
*Client events*. Events are frozen dataclasses so that a handler can never mutate what another
handler sees. LMC chunks travel inside `ChunkEmitted` as plain dicts, exactly as the LMC protocol
defines them, because that is the shape library users already consume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["idle", "thinking", "awaiting_approval", "running", "awaiting_input", "stopping"]


@dataclass(frozen=True)
class Event:
    """Base class so subscribers can filter on one type."""


# ---------------------------------------------------------------- core -> clients


@dataclass(frozen=True)
class ChunkEmitted(Event):
    """One streaming LMC chunk (assistant message/code, computer console/image/confirmation)."""

    chunk: dict[str, Any]


@dataclass(frozen=True)
class ApprovalRequested(Event):
    """The model wrote code and it will not run until a client answers with CodeApproved/CodeSkipped."""

    request_id: str
    language: str
    code: str


@dataclass(frozen=True)
class InputRequested(Event):
    """Running code called input() (or a shell read); answer with InputAnswered."""

    request_id: str
    prompt: str
    password: bool = False


@dataclass(frozen=True)
class StatusChanged(Event):
    """What the core is doing now, for status lines and key hints."""

    status: Status
    detail: str = ""


@dataclass(frozen=True)
class ErrorRaised(Event):
    """An expected failure, already phrased as one clear sentence for the user."""

    kind: str  # "llm", "budget", "kernel", "settings", "conversation", "input", ...
    message: str


@dataclass(frozen=True)
class CostUpdated(Event):
    """Running spend of this session, after each LLM call."""

    total_cost: float
    last_cost: float
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class MessageCompleted(Event):
    """A whole LMC message was appended to interpreter.messages (autosave and navigators hang off this)."""

    message: dict[str, Any]
    index: int


@dataclass(frozen=True)
class MessagesReplaced(Event):
    """interpreter.messages was reset or assigned (new conversation, resume, %undo)."""

    count: int


@dataclass(frozen=True)
class TurnFinished(Event):
    """A respond loop ended; `reason` is "done", "stopped", "skipped", "error" or "budget"."""

    reason: str = "done"


@dataclass(frozen=True)
class SettingsApplied(Event):
    """Settings changed (profile switch, SettingChanged); `changed` maps dotted path -> new value."""

    changed: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None


@dataclass(frozen=True)
class InfoShown(Event):
    """Text for the user that is not part of the conversation (magic command output, notices)."""

    text: str
    title: str = ""


# ---------------------------------------------------------------- clients -> core


@dataclass(frozen=True)
class UserMessageSent(Event):
    """The user sent a message; `images` are paths or data URLs attached to it."""

    content: str
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeApproved(Event):
    """Run the pending code; `code` is exactly what the user saw (possibly edited)."""

    request_id: str
    code: str


@dataclass(frozen=True)
class CodeSkipped(Event):
    """The user declined to run the pending code."""

    request_id: str


@dataclass(frozen=True)
class InputAnswered(Event):
    """The user's answer to an InputRequested."""

    request_id: str
    text: str


@dataclass(frozen=True)
class StopRequested(Event):
    """Cancel generation or interrupt the running code."""


@dataclass(frozen=True)
class SettingChanged(Event):
    """Set one setting by dotted path, e.g. ("llm.model", "gpt-4o") or ("auto_run", True)."""

    path: str
    value: Any
