"""What a client may ask of the core besides chatting: conversations, profiles, undo and rewind, settings.

One implementation for both clients: the in-process client calls these methods directly, and the server
calls the very same methods for a remote client's `call` frames. Every failure a user can cause is an
`OiError` with one sentence; file work happens in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from pathlib import Path
from typing import Any

from ..errors import OiError
from .config import APPROVAL_SETTINGS, REMOTE_SETTINGS

EXPORT_SUFFIXES = {"markdown": ".md", "notebook": ".ipynb"}


class CallError(OiError):
    """A call that failed; `message` is the whole sentence, `detail` the reason alone (for callers that add their
    own "Could not …")."""

    kind = "call"

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


def info_to_dict(info: Any) -> dict[str, Any]:
    data = dataclasses.asdict(info)
    data["folder"] = str(info.folder)
    return data


def info_from_dict(data: dict[str, Any]) -> Any:
    from ..conversations import ConversationInfo

    known = {f.name for f in dataclasses.fields(ConversationInfo)}
    values = {k: v for k, v in data.items() if k in known}
    values["folder"] = Path(str(values.get("folder") or "."))
    return ConversationInfo(**values)


def restore_from_dict(data: dict[str, Any]) -> Any:
    from ..checkpoints import RestoreResult

    known = {f.name for f in dataclasses.fields(RestoreResult)}
    return RestoreResult(**{k: v for k, v in data.items() if k in known})


def state_snapshot(interpreter: Any, busy: bool = False, *, messages: bool = True) -> dict[str, Any]:
    """What a client mirrors of a core: settings it shows, the spend, and (optionally) the conversation."""
    state: dict[str, Any] = {
        "model": str(interpreter.llm.model or ""),
        "profile": interpreter.profile,
        "auto_run": bool(interpreter.auto_run),
        "safe_mode": str(interpreter.safe_mode or "off"),
        "allow_rules": [dict(rule) for rule in interpreter.allow_rules],
        "total_cost": float(interpreter.total_cost or 0.0),
        "conversation_id": interpreter.conversation_id,
        "status": interpreter.status,
        "busy": busy,
        "api_base": interpreter.llm.api_base,
    }
    if messages:
        state["messages"] = list(interpreter.messages)
    return state


def _fail(exc: BaseException, doing: str) -> CallError:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return CallError(f"Could not {doing}: {message}", message)


class SettingsPolicy:
    """Which settings a client may change: the allow-list, plus approval settings only when the server allows it."""

    def __init__(self, allow_approval_settings: bool = True, local: bool = True) -> None:
        self.allow_approval_settings = allow_approval_settings
        self.local = local  # the in-process client may change every setting

    def refusal(self, path: str) -> str | None:
        """Why `path` may not be changed by this client (one sentence), or None when it may."""
        from ..settings import SETTINGS, canonical_path

        path = canonical_path(path)
        if self.local:
            return None
        if path in APPROVAL_SETTINGS:
            if self.allow_approval_settings:
                return None
            return (f"{path} decides whether code runs without asking, so remote clients cannot change it; "
                    "start the server with --allow-remote-approval-settings to allow it.")
        if path in REMOTE_SETTINGS:
            return None
        if path not in SETTINGS:
            return None  # unknown names get the settings module's own "did you mean" sentence
        return f"{path} cannot be changed by a remote client (allowed: {', '.join(REMOTE_SETTINGS)})."


class CoreCalls:
    """The operations behind the conversations navigator, profiles, undo/rewind and new conversations."""

    def __init__(self, interpreter: Any, session: Any, policy: SettingsPolicy) -> None:
        self.interpreter = interpreter
        self.session = session
        self.policy = policy

    def store(self) -> Any:
        from ..conversations import ConversationStore

        return ConversationStore.for_interpreter(self.interpreter)

    def _idle(self, doing: str) -> None:
        if self.session is not None and self.session.busy:
            raise CallError(f"Stop the current turn before you {doing}.")

    # ------------------------------------------------------------ conversations

    async def conversations_list(self) -> dict[str, Any]:
        store = self.store()
        try:
            infos = await asyncio.to_thread(store.list)
        except OSError as exc:
            raise _fail(exc, f"read {store.path}") from None
        return {"infos": [info_to_dict(info) for info in infos],
                "problems": [{"path": str(p.path), "reason": p.reason} for p in store.problems],
                "folder": str(store.path)}

    async def conversations_search(self, query: str, ids: list[str] | None = None) -> list[dict[str, Any]]:
        store = self.store()

        def search() -> list[Any]:
            infos = store.list()
            if ids is not None:
                wanted = set(ids)
                infos = [info for info in infos if info.id in wanted]
            return store.search(str(query), infos)

        try:
            found = await asyncio.to_thread(search)
        except OSError as exc:
            raise _fail(exc, "search the conversations") from None
        return [info_to_dict(info) for info in found]

    async def conversations_load(self, conversation_id: str) -> list[dict[str, Any]]:
        from ..conversations import ConversationError

        store = self.store()
        try:
            return await asyncio.to_thread(store.load, str(conversation_id))
        except (ConversationError, OSError, ValueError) as exc:
            raise _fail(exc, "read that conversation") from None

    async def conversations_resume(self, conversation_id: str) -> dict[str, Any]:
        from ..conversations import ConversationError, aresume

        self._idle("open another conversation")
        await self.interpreter.flush_autosave()  # the current conversation is on disk before it is replaced
        try:
            await aresume(self.interpreter, str(conversation_id), self.store())
        except (ConversationError, OSError, ValueError) as exc:
            raise _fail(exc, "open that conversation") from None
        return {"conversation_id": self.interpreter.conversation_id, "count": len(self.interpreter.messages)}

    async def conversations_rename(self, conversation_id: str, title: str) -> dict[str, Any]:
        from ..conversations import ConversationError

        store = self.store()
        try:
            info = await asyncio.to_thread(store.rename, str(conversation_id), str(title))
        except (ConversationError, OSError, ValueError) as exc:
            raise _fail(exc, "rename") from None
        return info_to_dict(info)

    async def conversations_delete(self, conversation_id: str) -> None:
        from ..conversations import ConversationError

        store = self.store()
        try:
            await asyncio.to_thread(store.delete, str(conversation_id))
        except (ConversationError, OSError) as exc:
            raise _fail(exc, "delete") from None

    async def conversations_export(self, conversation_id: str, fmt: str) -> dict[str, Any]:
        """The export as text (Markdown, or notebook JSON); the client writes it where its user asked."""
        from ..conversations import ConversationError

        if fmt not in EXPORT_SUFFIXES:
            raise CallError(f"Unknown export format {fmt!r}: use markdown or notebook.")
        store = self.store()

        def render() -> str:
            from ..conversation_export import to_markdown, to_notebook
            from ..conversation_text import title_for

            header, messages = store.load_with_header(str(conversation_id))
            title = str((header or {}).get("title") or title_for(messages))
            if fmt == "markdown":
                return to_markdown(messages, title)
            import nbformat

            return nbformat.writes(to_notebook(messages, title))

        try:
            text = await asyncio.to_thread(render)
        except (ConversationError, OSError, ValueError) as exc:
            raise _fail(exc, "export") from None
        return {"text": text, "suffix": EXPORT_SUFFIXES[fmt]}

    async def conversation_new(self) -> None:
        if self.session is not None and self.session.busy:
            await self.session.stop()
        await self.interpreter.flush_autosave()  # a save still in flight would otherwise miss the last messages
        await self.interpreter.areset()

    # ------------------------------------------------------------ profiles

    async def profiles_list(self) -> list[dict[str, Any]]:
        from ..profiles import list_profiles

        try:
            infos = await asyncio.to_thread(list_profiles)
        except OSError as exc:
            raise _fail(exc, "list profiles") from None
        return [{"name": info.name, "source": info.source, "path": str(info.path)} for info in infos]

    async def profiles_switch(self, name: str) -> list[str]:
        """Apply a profile; settings this client may not change keep their values (and it is told so)."""
        from ..events import SettingsApplied
        from ..profiles import apply_profile, read_profile_for

        self._idle("switch profiles")  # a profile resets settings: never under a running turn
        interp = self.interpreter
        guarded = {path: interp.get_setting(path) for path in APPROVAL_SETTINGS
                   if self.policy.refusal(path) is not None}
        try:
            read = await asyncio.to_thread(read_profile_for, interp, str(name))  # disk and YAML off the loop
            problems = list(apply_profile(interp, str(name), read=read))
        except OiError as exc:
            raise _fail(exc, f"switch to {name}") from None
        except OSError as exc:
            raise _fail(exc, f"switch to {name}") from None
        kept = {}
        for path, value in guarded.items():
            if interp.get_setting(path) != value:
                interp.set_setting(path, value)
                kept[path] = value
        if kept:
            problems.append(f"The profile's {', '.join(kept)} {'was' if len(kept) == 1 else 'were'} not applied: "
                            "remote clients cannot change approval settings on this server.")
            interp.bus.publish(SettingsApplied(kept, interp.profile))
        return problems

    # ------------------------------------------------------------ settings

    def setting_refusal(self, path: str) -> str | None:
        return self.policy.refusal(path)

    # ------------------------------------------------------------ checkpoints

    async def checkpoints_undo(self) -> dict[str, Any]:
        self._idle("undo a run")
        try:
            result = await self.interpreter.aundo()
        except OiError as exc:
            raise CallError(exc.message) from None
        return result.to_dict()

    async def checkpoints_rewind(self, index: int, replay_kernel: bool = False) -> dict[str, Any]:
        self._idle("rewind")
        try:
            result = await self.interpreter.arewind(int(index), replay_kernel=bool(replay_kernel))
        except OiError as exc:
            raise CallError(exc.message) from None
        return result.to_dict()

    async def checkpoints_changes(self, record: dict[str, Any]) -> dict[str, Any]:
        checkpoints = self.interpreter.run_checkpoints
        try:
            changes = await checkpoints.changes(dict(record))
            patch = await checkpoints.patch(dict(record))
        except (OiError, OSError) as exc:
            raise _fail(exc, "read the run's changes") from None
        return {"changes": [change.to_dict() for change in changes], "patch": patch}

    # ------------------------------------------------------------ dispatch (the server's `call` frames)

    METHODS = {
        "conversations.list": "conversations_list",
        "conversations.search": "conversations_search",
        "conversations.load": "conversations_load",
        "conversations.resume": "conversations_resume",
        "conversations.rename": "conversations_rename",
        "conversations.delete": "conversations_delete",
        "conversations.export": "conversations_export",
        "conversation.new": "conversation_new",
        "profiles.list": "profiles_list",
        "profiles.switch": "profiles_switch",
        "checkpoints.undo": "checkpoints_undo",
        "checkpoints.rewind": "checkpoints_rewind",
        "checkpoints.changes": "checkpoints_changes",
    }

    async def dispatch(self, method: str, params: Any) -> Any:
        name = self.METHODS.get(str(method))
        if name is None:
            raise CallError(f"Unknown call {method!r}; the server offers: {', '.join(sorted(self.METHODS))}.")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise CallError(f"The parameters of {method} must be a JSON object.")
        function = getattr(self, name)
        try:
            inspect.signature(function).bind(**params)
        except TypeError as exc:
            raise CallError(f"Bad parameters for {method}: {exc}.") from None
        return await function(**params)
