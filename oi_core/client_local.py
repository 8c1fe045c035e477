"""`LocalClient`: the core in this process — the interpreter, its bus and a Session, behind `CoreClient`.

The queries run through `oi_core.server.calls.CoreCalls`, the very code the server runs for a remote
client, so both clients behave alike by construction.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import llm_lean
from .client import ConversationListing, CoreClient, ExportFormat, ProfileEntry
from .events import (
    AllowRuleAdded, AllowRuleRemoved, CodeApproved, CodeSkipped, InputAnswered, ScanRequested, SettingChanged,
    StopRequested, UserMessageSent,
)

if TYPE_CHECKING:  # the server's calls load with the first query (the navigator, undo ...), not with the first frame
    from .server.calls import CoreCalls


class InterpreterState:
    """CoreState's attributes, read live from the interpreter (nothing to keep in step)."""

    def __init__(self, client: "LocalClient") -> None:
        self._client = client

    @property
    def _interp(self) -> Any:
        return self._client.interpreter

    @property
    def model(self) -> str:
        return str(self._interp.llm.model or "")

    @property
    def profile(self) -> str | None:
        return self._interp.profile

    @property
    def auto_run(self) -> bool:
        return bool(self._interp.auto_run)

    @property
    def safe_mode(self) -> str:
        return str(self._interp.safe_mode or "off")

    @property
    def allow_rules(self) -> list[dict[str, Any]]:
        return [dict(rule) for rule in self._interp.allow_rules]

    @property
    def total_cost(self) -> float:
        return float(self._interp.total_cost or 0.0)

    @property
    def conversation_id(self) -> str:
        return str(self._interp.conversation_id)

    @property
    def status(self) -> str:
        return str(self._interp.status)

    @property
    def busy(self) -> bool:
        return self._client.busy

    @property
    def api_base(self) -> str | None:
        return self._interp.llm.api_base

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self._interp.messages


class LocalClient(CoreClient):
    """The in-process core."""

    remote = False

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.bus = interpreter.bus
        self.session: Any = None
        self._state = InterpreterState(self)
        self._calls: CoreCalls | None = None

    @property
    def state(self) -> InterpreterState:
        return self._state

    @property
    def busy(self) -> bool:
        return bool(self.session is not None and self.session.busy)

    @property
    def calls(self) -> CoreCalls:
        if self._calls is None:
            from .server.calls import CoreCalls, SettingsPolicy

            self._calls = CoreCalls(self.interpreter, self.session, SettingsPolicy(local=True))
        return self._calls

    async def start(self) -> None:
        self.attach()

    def attach(self) -> None:
        """Create the Session (needs the running loop); idempotent."""
        if self.session is None:
            from .session import Session

            self.session = Session(self.interpreter)
            self._calls = None

    def warm_up(self) -> None:
        if self.session is not None:
            self.session.warm_up()

    async def warmed_up(self) -> None:
        if self.session is not None:
            await self.session.warmed_up()

    def user_typed(self) -> None:
        llm_lean.user_typed()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    # ------------------------------------------------------------ turns

    def send(self, text: str, images: tuple[str, ...] = ()) -> None:
        self.bus.publish(UserMessageSent(text, tuple(images)))

    def stop(self) -> None:
        self.bus.publish(StopRequested())

    def approve(self, request_id: str, code: str, confirmed_incomplete: bool = False) -> None:
        self.bus.publish(CodeApproved(request_id, code, confirmed_incomplete=confirmed_incomplete))

    def skip(self, request_id: str, reason: str = "", how: str = "skip") -> None:
        self.bus.publish(CodeSkipped(request_id, reason=reason, how=how))  # type: ignore[arg-type]

    def request_scan(self, request_id: str) -> None:
        self.bus.publish(ScanRequested(request_id))

    def add_allow_rule(self, rule: dict[str, Any], save: bool = True) -> None:
        self.bus.publish(AllowRuleAdded(rule, save))

    def remove_allow_rule(self, rule: dict[str, Any], save: bool = True) -> None:
        self.bus.publish(AllowRuleRemoved(rule, save))

    def answer_input(self, request_id: str, text: str) -> None:
        self.bus.publish(InputAnswered(request_id, text))

    def set_setting(self, path: str, value: Any) -> None:
        self.bus.publish(SettingChanged(path, value))

    # ------------------------------------------------------------ queries

    async def new_conversation(self) -> None:
        await self.calls.conversation_new()

    async def list_conversations(self) -> ConversationListing:
        from .server.calls import info_from_dict

        data = await self.calls.conversations_list()
        return ConversationListing([info_from_dict(d) for d in data["infos"]],
                                   [(p["path"], p["reason"]) for p in data["problems"]], data["folder"])

    async def search_conversations(self, query: str, infos: list[Any] | None = None) -> list[Any]:
        from .server.calls import info_from_dict

        ids = None if infos is None else [info.id for info in infos]
        return [info_from_dict(d) for d in await self.calls.conversations_search(query, ids)]

    async def load_conversation(self, conversation_id: str) -> list[dict[str, Any]]:
        return await self.calls.conversations_load(conversation_id)

    async def resume_conversation(self, conversation_id: str) -> None:
        await self.calls.conversations_resume(conversation_id)

    async def rename_conversation(self, conversation_id: str, title: str) -> Any:
        from .server.calls import info_from_dict

        return info_from_dict(await self.calls.conversations_rename(conversation_id, title))

    async def delete_conversation(self, conversation_id: str) -> None:
        await self.calls.conversations_delete(conversation_id)

    async def export_conversation(self, conversation_id: str, fmt: ExportFormat, path: str | Path) -> Path:
        exported = await self.calls.conversations_export(conversation_id, fmt)
        return await write_export(path, exported["text"])

    async def list_profiles(self) -> list[ProfileEntry]:
        return [ProfileEntry(**entry) for entry in await self.calls.profiles_list()]

    async def switch_profile(self, name: str) -> list[str]:
        return await self.calls.profiles_switch(name)

    async def undo(self) -> Any:
        from .server.calls import restore_from_dict

        return restore_from_dict(await self.calls.checkpoints_undo())

    async def rewind(self, index: int, replay_kernel: bool = False) -> Any:
        from .server.calls import restore_from_dict

        return restore_from_dict(await self.calls.checkpoints_rewind(index, replay_kernel))

    async def run_changes(self, record: dict[str, Any]) -> tuple[list[Any], str]:
        from .checkpoint_changes import FileChange

        data = await self.calls.checkpoints_changes(record)
        return [FileChange.from_dict(change) for change in data["changes"]], data["patch"]


async def write_export(path: str | Path, text: str) -> Path:
    """Write an export on this machine (off the loop, atomically); OiError with the reason when it cannot."""
    from .conversations import atomic_write
    from .server.calls import CallError

    target = Path(path).expanduser()
    try:
        await asyncio.to_thread(atomic_write, target, text.encode("utf-8"))
    except OSError as exc:
        raise CallError(f"Could not write {target}: {exc.strerror or exc}.") from None
    return target
