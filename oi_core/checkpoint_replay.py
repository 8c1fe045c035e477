"""Rebuilding the Python kernel after a rewind: restart it and run the approved Python blocks again, in order.

The blocks run exactly as they ran the first time (the stored code is the approved, possibly edited,
code). Progress is published as `KernelReplayProgressed`; the replay stops at the first block that
raises. Files the replay writes are put back afterwards, so the disk stays as the rewind left it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .computer.base import NoInput
from .convert import DECLINED
from .events import KernelReplayProgressed

if TYPE_CHECKING:
    from .checkpoints import RunCheckpoints

#: Asks the kernel whether the last cell raised, then clears the mark (IPython sets sys.last_value).
ERROR_PROBE = (
    'print("oi-replay:" + ("error" if getattr(__import__("sys"), "last_value", None) is not None else "ok")); '
    '__import__("sys").last_value = None'
)


def approved_python_blocks(messages: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(message index, code) of every Python block that ran and was not undone, oldest first."""
    blocks: list[tuple[int, str]] = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or message.get("type") != "code":
            continue
        if str(message.get("format") or "").lower() not in ("python", "py", "python3", "ipython"):
            continue
        record = message.get("checkpoint")
        if isinstance(record, dict) and record.get("undone"):
            continue
        output = _run_output(messages, index)
        if output is None or output.get("not_run") or str(output.get("content") or "").strip().startswith(DECLINED):
            continue
        blocks.append((index, str(message.get("content") or "")))
    return blocks


def _run_output(messages: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    for message in messages[index + 1 :]:
        if message.get("role") == "computer" and message.get("type") == "console" and message.get("format") == "output":
            return message
        if message.get("role") != "computer":
            return None
    return None


async def replay_python(checkpoints: "RunCheckpoints", messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Restart Python and replay the approved blocks of `messages`; a summary dict (also for FilesRestored)."""
    interp = checkpoints.interpreter
    bus = interp.bus
    blocks = approved_python_blocks(messages)
    total = len(blocks)
    result: dict[str, Any] = {"total": total, "ran": 0, "failed_at": None, "error": "", "files_put_back": 0}
    runner = interp.computer.terminal.get_language("python")
    if runner is None or runner.missing_runtime():
        result["error"] = (runner.missing_runtime() if runner else None) or "Python is not available here."
        result["summary"] = f"The Python kernel was not rebuilt: {result['error']}"
        bus.publish(KernelReplayProgressed(0, total, "failed", result["summary"]))
        return result
    bus.publish(KernelReplayProgressed(0, total, "running", "Restarting the Python kernel…"))
    await runner.aterminate()
    guard = await checkpoints.guard_files() if total else None
    for number, (index, code) in enumerate(blocks, 1):
        bus.publish(KernelReplayProgressed(number - 1, total, "running", f"Running the Python block at message {index}…"))
        output: list[str] = []
        async for chunk in interp.computer.arun("python", code, NoInput()):
            if chunk.get("type") == "console" and chunk.get("format") == "output":
                output.append(str(chunk.get("content") or ""))
        if await _raised(interp):
            tail = "".join(output).strip().splitlines()[-3:]
            result["failed_at"] = index
            result["error"] = " / ".join(line.strip() for line in tail if line.strip()) or "the block raised an error"
            break
        result["ran"] = number
    if guard is not None:
        result["files_put_back"] = await checkpoints.release_files(guard)
    if result["failed_at"] is not None:
        result["summary"] = (f"Python kernel rebuilt up to message {result['failed_at']}: {result['ran']} of {total} "
                             f"block(s) ran, then the block at message {result['failed_at']} failed ({result['error']}).")
        bus.publish(KernelReplayProgressed(result["ran"], total, "failed", result["summary"]))
    else:
        result["summary"] = f"Python kernel rebuilt: {total} block(s) ran again."
        bus.publish(KernelReplayProgressed(total, total, "finished", result["summary"]))
    return result


async def _raised(interp: Any) -> bool:
    parts: list[str] = []
    async for chunk in interp.computer.arun("python", ERROR_PROBE, NoInput()):
        if chunk.get("type") == "console" and chunk.get("format") == "output":
            parts.append(str(chunk.get("content") or ""))
    return "oi-replay:error" in "".join(parts)


__all__ = ["approved_python_blocks", "replay_python"]
