"""Every event that crosses the bus between the core and its clients, in one place.

The core publishes the *Core events*; clients (the TUI, plain mode, a future server) publish the
*Client events*. Events are frozen dataclasses so that a handler can never mutate what another
handler sees. LMC chunks travel inside `ChunkEmitted` as plain dicts, exactly as the LMC protocol
defines them, because that is the shape library users already consume.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypeVar, dataclass_transform

if TYPE_CHECKING:  # field types only: the safety checks load with the first code block, not with the first frame
    from .safety.types import RiskMark, ScanResult

Status = Literal["idle", "thinking", "awaiting_approval", "running", "awaiting_input", "stopping"]


_EventClass = TypeVar("_EventClass", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen_event(cls: _EventClass) -> _EventClass:
    """A dataclass whose equality, hash, repr and immutability come from Event: written once, not generated per
    class (Python compiles each generated method at import; for these 28 classes that was ~11 ms of every launch)."""
    return dataclass(eq=False, repr=False)(cls)


@frozen_event
class Event:
    """Base class so subscribers can filter on one type."""

    def __setattr__(self, name: str, value: Any) -> None:
        """Each field is set once, by __init__; nothing else is ever set (what dataclass(frozen=True) ensures)."""
        if name in self.__dict__ or name not in self.__dataclass_fields__:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, item.name) for item in fields(self))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in fields(self))
        return f"{self.__class__.__qualname__}({shown})"


# ---------------------------------------------------------------- core -> clients


@frozen_event
class ChunkEmitted(Event):
    """One streaming LMC chunk (assistant message/code, computer console/image/confirmation)."""

    chunk: dict[str, Any]


@frozen_event
class ApprovalRequested(Event):
    """A complete code block waits for a client's CodeApproved/CodeSkipped; nothing runs before that.

    `risks` are the built-in classifier's line marks and `summary` their one-line phrase. `scan` is None
    when safe mode is off; status "scanning" while an automatic scan runs (a ScanFinished follows),
    "not_scanned" with `detail` when semgrep is missing or failed. `incomplete`: the reply was cut off by
    the token limit inside this block, so it runs only after an edit or `confirmed_incomplete=True`.
    `forced` says why approval is asked although auto_run is on (e.g. "safe mode ask").
    """

    request_id: str
    language: str
    code: str
    risks: tuple[RiskMark, ...] = ()
    scan: ScanResult | None = None
    incomplete: bool = False
    forced: str = ""
    summary: str = ""


@frozen_event
class ScanFinished(Event):
    """The safe-mode scan of a pending block ended (or could not run: status "not_scanned"/"failed")."""

    request_id: str
    scan: ScanResult


@frozen_event
class ApprovalResolved(Event):
    """A pending approval is over; `outcome` is "approved", "skipped", "escaped", "fix", "stopped" or "refused"."""

    request_id: str
    outcome: str


@frozen_event
class CodeAllowedByRule(Event):
    """A block ran without asking because an allow rule matched it (shown so it is never silent)."""

    language: str
    code: str
    rule: dict[str, Any]  # the rule as stored in the profile (see oi_core.safety.allow)
    description: str = ""  # the rule in words, e.g. "shell commands starting with `ls`"


@frozen_event
class InputRequested(Event):
    """Running code called input() (or a shell read); answer with InputAnswered."""

    request_id: str
    prompt: str
    password: bool = False


@frozen_event
class StatusChanged(Event):
    """What the core is doing now, for status lines and key hints."""

    status: Status
    detail: str = ""


@frozen_event
class ErrorRaised(Event):
    """An expected failure, already phrased as one clear sentence for the user."""

    kind: str  # "llm", "budget", "kernel", "settings", "conversation", "input", ...
    message: str


@frozen_event
class CostUpdated(Event):
    """Running spend of this session, after each LLM call."""

    total_cost: float
    last_cost: float
    prompt_tokens: int = 0
    completion_tokens: int = 0


@frozen_event
class MessageCompleted(Event):
    """A whole LMC message was appended to interpreter.messages (autosave and navigators hang off this)."""

    message: dict[str, Any]
    index: int


@frozen_event
class MessagesReplaced(Event):
    """interpreter.messages was reset or assigned (new conversation, resume, %undo)."""

    count: int


@frozen_event
class TurnFinished(Event):
    """A respond loop ended; `reason` is "done", "stopped", "skipped", "error" or "budget"."""

    reason: str = "done"


@frozen_event
class SettingsApplied(Event):
    """Settings changed (profile switch, SettingChanged); `changed` maps dotted path -> new value."""

    changed: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None


@frozen_event
class InfoShown(Event):
    """Text for the user that is not part of the conversation (magic command output, notices)."""

    text: str
    title: str = ""


@frozen_event
class InputWithdrawn(Event):
    """A turn failed before anything came of it, so the user's input was taken back out of the conversation.

    Sending `text` again is then a clean retry: the model never sees the message twice.
    """

    text: str
    count: int = 1  # messages removed (the message and any images sent with it)


# ---------------------------------------------------------------- clients -> core


@frozen_event
class UserMessageSent(Event):
    """The user sent a message; `images` are paths or data URLs attached to it."""

    content: str
    images: tuple[str, ...] = ()


@frozen_event
class CodeApproved(Event):
    """Run the pending code; `code` is exactly what the user saw (possibly edited).

    An incomplete block (cut off by the token limit) runs only if `code` was edited or
    `confirmed_incomplete` is True; otherwise the approval is refused with an ErrorRaised("approval", ...)
    and the block stays pending. An unknown or stale `request_id` is ignored.
    """

    request_id: str
    code: str
    confirmed_incomplete: bool = False


@frozen_event
class CodeSkipped(Event):
    """The user declined the pending code; the model is told it was not run.

    `how`: "skip" (optional `reason`, which the model receives; with a reason the model answers at once),
    "escape" (dismissed with Esc: recorded as not run, the turn ends), "fix" (not run; the model gets
    the safe-mode findings and risk reasons and is asked to explain or fix the code).
    """

    request_id: str
    reason: str = ""
    how: Literal["skip", "escape", "fix"] = "skip"


@frozen_event
class ScanRequested(Event):
    """Scan the pending block with safe mode's scanner now (the "ask" mode's scan key)."""

    request_id: str


@frozen_event
class AllowRuleAdded(Event):
    """Add an "always allow" rule (a dict as oi_core.safety.allow parses it); `save` also writes the profile."""

    rule: dict[str, Any]
    save: bool = True


@frozen_event
class AllowRuleRemoved(Event):
    """Remove an allow rule equal to `rule`; `save` also writes the profile."""

    rule: dict[str, Any]
    save: bool = True


@frozen_event
class InputAnswered(Event):
    """The user's answer to an InputRequested."""

    request_id: str
    text: str


@frozen_event
class StopRequested(Event):
    """Cancel generation or interrupt the running code."""


@frozen_event
class SettingChanged(Event):
    """Set one setting by dotted path, e.g. ("llm.model", "gpt-4o") or ("auto_run", True)."""

    path: str
    value: Any


# ---------------------------------------------------------------- checkpoints (issue 14) core -> clients


@frozen_event
class RunFilesChanged(Event):
    """A run ended and what it changed on disk was recorded; `record` is what its code message stores.

    `index` is the code message; `record` is the dict described in oi_core.checkpoints ("counts", "files",
    "outside", "error" when no checkpoint could be taken, "undone").
    """

    index: int
    record: dict[str, Any]


@frozen_event
class FilesRestored(Event):
    """Undo or rewind put files back; `result` is `RestoreResult.to_dict()` (written, removed, failed, ...)."""

    action: str  # "undo" | "rewind"
    index: int  # the code message undone, or the message rewound to
    result: dict[str, Any]


@frozen_event
class KernelReplayProgressed(Event):
    """Rebuilding the Python kernel after a rewind: `done` of `total` blocks; state "running", "finished" or "failed"."""

    done: int
    total: int
    state: str
    detail: str = ""
