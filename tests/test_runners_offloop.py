"""The event loop never waits for a runner: imports, temp files and process spawns happen in threads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter (so ipykernel is not imported yet) records which thread triggers each audit event.
PROBE = r"""
import asyncio, json, sys, threading
sys.path.insert(0, {root!r})
seen = []
watched = {{"subprocess.Popen", "os.mkdir", "tempfile.mkdtemp"}}
def hook(event, args):
    if event == "import" and args[0].split(".")[0] in ("ipykernel", "jupyter_client", "zmq"):
        seen.append((event + ":" + args[0].split(".")[0], threading.current_thread().name))
    elif event == "open" and isinstance(args[0], str) and ("/oi-shell-" in args[0] or "/oi-javascript-" in args[0]):
        seen.append(("open:code-file", threading.current_thread().name))
    elif event in watched:
        seen.append((event, threading.current_thread().name))
sys.addaudithook(hook)
from oi_core.computer.computer import Computer

async def main():
    threading.current_thread().name = "event-loop"
    computer = Computer()
    await computer.terminal.astart("python")
    for language, code in {runs!r}:
        [chunk async for chunk in computer.arun(language, code)]
    await computer.aterminate()

asyncio.run(main())
print(json.dumps(sorted(set(seen))))
"""


def test_warm_up_and_runs_leave_the_loop_free():
    runs = [("python", "print(1)"), ("shell", "echo 1")]
    if shutil.which("node"):
        runs.append(("javascript", "console.log(1)"))
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(ROOT), runs=runs)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    events = {event for event, _ in seen}
    assert {"import:ipykernel", "import:jupyter_client", "subprocess.Popen", "open:code-file"} <= events
    if shutil.which("node"):
        assert "tempfile.mkdtemp" in events
    on_loop = [event for event, thread in seen if thread == "event-loop"]
    assert on_loop == [], f"on the event loop: {on_loop}"
