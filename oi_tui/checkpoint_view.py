"""What the chat screen shows about checkpoints: a line under each code block, undo/rewind notices, replay progress.

The chat screen owns one `CheckpointView` and hands it the checkpoint events the bridge delivers
(`RunFilesChanged`, `FilesRestored`, `KernelReplayProgressed`), and calls `decorate` after it re-renders a
conversation. Lines are mounted as siblings right after their code block, so the block itself is untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oi_core.checkpoints import LIMITS, record_of
from oi_core.events import FilesRestored, KernelReplayProgressed, RunFilesChanged

from .widgets.run_changes import ReplayProgress, RunChanges

if TYPE_CHECKING:
    from .screens.chat import ChatScreen
    from .widgets.code_block import CodeBlock


def restored_notice(action: str, result: dict[str, Any]) -> str:
    """A few lines for the transcript after an undo or a rewind."""
    written, removed = list(result.get("written") or []), list(result.get("removed") or [])
    paths = written + removed
    if action == "undo":
        head = f"Undid the last run: {len(paths)} file(s) put back"
    else:
        runs = len(result.get("runs") or [])
        head = f"Rewound to message {result.get('index')}: {runs} run(s) undone, {len(paths)} file(s) put back"
    lines = [head + (f" ({', '.join(paths[:6])}{' …' if len(paths) > 6 else ''})." if paths else ".")]
    for path, reason in (result.get("failed") or [])[:6]:
        lines.append(f"Not restored: {path} ({reason})")
    for path, reason in (result.get("not_restorable") or [])[:6]:
        lines.append(f"Cannot be restored: {path} ({reason})")
    for index, reason in (result.get("without_checkpoint") or [])[:3]:
        lines.append(f"The run at message {index} had no checkpoint ({reason}); its changes stay.")
    if result.get("outside"):
        lines.append("Touched outside the working directory, not undone: " + ", ".join(result["outside"][:6]))
    if result.get("kept_id"):
        lines.append("The conversation as it was is kept in the conversation list (ctrl+o).")
    lines.append(LIMITS.format(root=result.get("root") or "the working directory"))
    return "\n".join(lines)


class CheckpointView:
    """Keeps the transcript's run lines in step with the conversation's checkpoint records."""

    def __init__(self, screen: "ChatScreen") -> None:
        self.screen = screen
        self._replay: ReplayProgress | None = None

    @property
    def transcript(self) -> Any:
        return self.screen.transcript

    def line_for(self, index: int) -> RunChanges | None:
        for line in self.transcript.query(RunChanges):
            if line.index == index:
                return line
        return None

    async def _attach(self, block: CodeBlock, index: int, record: dict[str, Any]) -> None:
        existing = self.line_for(index)
        if existing is not None:
            existing.update_record(record)
            return
        await self.transcript.mount(RunChanges(index, record), after=block)

    async def show_changes(self, event: RunFilesChanged) -> None:
        """A run's changes were recorded: its block is the newest one that ran.

        Not simply the newest block: the record is worked out beside the model's next request, so the next
        block may already be shown (awaiting approval, or stopped before it ran) and would read as if it had
        changed those files. The next run cannot start before the record is published (the core waits for it).
        """
        ran = [block for block in self.transcript.code_blocks() if block.has_run]
        if ran:
            await self._attach(ran[-1], event.index, event.record)

    async def show_restored(self, event: FilesRestored) -> None:
        messages = self.screen.app.client.state.messages  # type: ignore[attr-defined]
        if event.action == "undo" and event.index < len(messages):
            record = record_of(messages[event.index])
            line = self.line_for(event.index)
            if record is not None and line is not None:
                line.update_record(record)
        await self.transcript.add_notice(restored_notice(event.action, event.result))

    async def show_replay(self, event: KernelReplayProgressed) -> None:
        if self._replay is None or not self._replay.is_attached:
            self._replay = ReplayProgress()
            await self.transcript.mount(self._replay)
        self._replay.show(event.done, event.total, event.state, event.detail)
        if event.state != "running":
            self._replay = None

    async def decorate(self, messages: list[dict[str, Any]]) -> None:
        """After the transcript re-rendered `messages`: a line under every block whose run was recorded.

        The transcript mounts one CodeBlock per code message, oldest first, and may leave the oldest
        behind a "show earlier" placeholder, so blocks are matched to code messages from the end.
        """
        codes = [i for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("type") == "code"]
        blocks = self.transcript.code_blocks()
        for block, index in zip(reversed(blocks), reversed(codes)):
            record = record_of(messages[index])
            if record is not None:
                await self._attach(block, index, record)


__all__ = ["CheckpointView", "restored_notice"]
