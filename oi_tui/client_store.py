"""The conversation navigator's store, backed by the client interface (so it works on a remote core too).

`NavigatorScreen` reads a store from its thread workers with ConversationStore's method names; this one
sends each call through `CoreClient` on the app's loop and waits there (only ever from a worker thread).
Failures come back as `ConversationError` carrying the reason, as the navigator expects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from oi_core.client import CoreClient
from oi_core.conversations import ConversationError, ConversationProblem
from oi_core.errors import OiError

CALL_TIMEOUT = 90.0


class ClientConversationStore:
    """ConversationStore's navigator-facing methods over a CoreClient."""

    def __init__(self, client: CoreClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.path: Path | str = "the conversations folder"
        self.problems: list[ConversationProblem] = []

    def _run(self, coro: Any) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise RuntimeError("ClientConversationStore is for worker threads; await the client on the loop instead.")
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT)
        except OiError as exc:
            raise ConversationError(getattr(exc, "detail", exc.message)) from None

    def list(self) -> list[Any]:
        listing = self._run(self.client.list_conversations())
        self.path = Path(listing.folder) if not self.client.remote else f"{listing.folder} (on {self.client.describe()})"
        self.problems = [ConversationProblem(Path(path), reason) for path, reason in listing.problems]
        return listing.infos

    def search(self, query: str, conversations: list[Any] | None = None) -> list[Any]:
        return self._run(self.client.search_conversations(query, conversations))

    def load(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._run(self.client.load_conversation(conversation_id))

    def rename(self, conversation_id: str, title: str) -> Any:
        return self._run(self.client.rename_conversation(conversation_id, title))

    def delete(self, conversation_id: str) -> None:
        self._run(self.client.delete_conversation(conversation_id))

    def export_markdown(self, conversation_id: str, path: str | Path) -> Path:
        return self._run(self.client.export_conversation(conversation_id, "markdown", path))

    def export_notebook(self, conversation_id: str, path: str | Path) -> Path:
        return self._run(self.client.export_conversation(conversation_id, "notebook", path))
