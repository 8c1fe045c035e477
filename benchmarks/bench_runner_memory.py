"""Memory of our own process while code floods its output: 1 GB written in 1 MB pieces.

Drives the real path: the scripted OpenAI-compatible server, litellm, the respond loop (auto-run), the
runner and its kernel or shell, and a consumer reading every chunk. Each case runs in a fresh process;
the figure is that process's peak RSS (VmHWM), printed next to its floor: the same process's RSS after
a warm-up turn that ran a one-line block.

    python benchmarks/bench_runner_memory.py [MB]        the Python API
    python benchmarks/bench_runner_memory.py tui [MB]    the real oi-tui command in tmux (the app's own process)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = {
    "python": "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range({mb}):\n    sys.stdout.write(chunk)\nprint('end')\n",
    "shell": "head -c {mb}M /dev/zero | tr '\\0' x\necho end\n",
    # fs.writeSync: node's process.stdout.write on a pipe fails with ENOBUFS when flooded like this
    "javascript": "const fs = require('fs');\nconst chunk = 'x'.repeat(1 << 20);\n"
    "for (let i = 0; i < {mb}; i++) fs.writeSync(1, chunk);\nfs.writeSync(1, 'end\\n');\n",
}

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
from tests.llm_server import ScriptedLLM
from oi_core import OpenInterpreter

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
llm = ScriptedLLM()
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = llm.url
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.conversation_history = False
interp.auto_run = True
fence = "```{language}\n{{}}```\n"
llm.queue(fence.format("print(1)\n" if {language!r} == "python" else "echo 1\n" if {language!r} == "shell" else "console.log(1)\n"))
llm.queue("ok")
for _ in interp.chat("warm up", display=False, stream=True):
    pass
floor = status("VmRSS")
llm.queue(fence.format({code!r}))
llm.queue("done")
start = time.perf_counter()
received = 0
for chunk in interp.chat("flood", display=False, stream=True):
    if chunk.get("format") == "output":
        received += len(chunk.get("content") or "")
elapsed = time.perf_counter() - start
stored = next(m for m in reversed(interp.messages) if m.get("role") == "computer")["content"]
print(json.dumps({{"floor": floor, "peak": status("VmHWM"), "after": status("VmRSS"), "seconds": elapsed,
                  "received": received, "stored": len(stored), "ends": stored.rstrip().endswith("end")}}))
interp.terminate()
llm.close()
os._exit(0)
"""


def measure(language: str, mb: int) -> dict:
    code = CODE[language].replace("{mb}", str(mb))
    script = CHILD.format(root=str(ROOT), language=language, code=code)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{language} case failed:\n{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    print(f"{mb} MB written in 1 MB pieces; peak RSS of our process (floor: its RSS after a warm-up turn)")
    for language in ("python", "shell", "javascript"):
        started = time.perf_counter()
        r = measure(language, mb)
        print(
            f"{language:<10} peak {r['peak']:6d} MB (floor {r['floor']:4d} MB, +{r['peak'] - r['floor']} MB)  "
            f"run {r['seconds']:6.2f} s  shown {r['received'] / 1e6:7.2f} M chars  stored {r['stored']:,} chars  "
            f"ends with 'end': {r['ends']}  ({time.perf_counter() - started:.1f} s in all)"
        )


if __name__ == "__main__" and (len(sys.argv) < 2 or sys.argv[1] != "tui"):
    main()


# ---------------------------------------------------------------- the TUI: the real command in tmux

def _tree(root: int) -> dict[int, str]:
    import os

    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    table[int(entry)] = (ppid, f.read().replace(b"\0", b" ").decode(errors="replace"))
            except (OSError, ValueError, IndexError):
                pass
    found, stack = {}, [root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, command) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = command
                stack.append(pid)
    return found


def _status_mb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    return 0


def measure_tui(language: str, mb: int) -> dict:
    """Peak RSS of the app process (the TUI's own process, not its kernel) while the flood runs on screen."""
    import os
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.llm_server import ScriptedLLM

    llm = ScriptedLLM()
    work = Path(tempfile.mkdtemp(prefix="bench-tui-mem-"))
    session = f"bench-mem-{os.getpid()}-{language}"
    env = {"HOME": work, "TMPDIR": work, "XDG_DATA_HOME": work / "data", "XDG_CONFIG_HOME": work / "config",
           "OI_TUI_THEME": "textual-dark", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    command = [str(Path(sys.executable).with_name("oi-tui")), "-y", "--model", "openai/test-model", "--api_base",
               llm.url, "--api_key", "test-key", "--no-llm_supports_functions"]
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "35", *env_args, *command],
                   check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    def wait(text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in screen():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{text!r} did not appear:\n{screen()}")
            time.sleep(0.2)

    try:
        pane = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True,
                                  text=True, check=True).stdout)
        wait("Ask for something", 60)
        llm.queue("```python\nprint('warm')\n```\n", "warm done")
        subprocess.run(["tmux", "send-keys", "-t", session, "-l", "warm up"], check=True)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        wait("warm done", 120)
        apps = [pid for pid, cmd in _tree(pane).items() if "oi-tui" in cmd]
        app = max(apps, key=lambda pid: _status_mb(pid, "VmRSS"))  # the forked child that runs the app
        floor = _status_mb(app, "VmRSS")
        llm.queue(f"```{language}\n{CODE[language].replace('{mb}', str(mb))}```\n", "flood done")
        start = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", session, "-l", "flood"], check=True)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        wait("flood done", 900)
        return {"floor": floor, "peak": _status_mb(app, "VmHWM"), "seconds": time.perf_counter() - start}
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        llm.close()


def main_tui() -> None:
    mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    print(f"TUI (real command in tmux): {mb} MB in 1 MB pieces; peak RSS of the app process (floor: after a warm turn)")
    for language in ("python", "shell"):
        r = measure_tui(language, mb)
        print(f"{language:<10} peak {r['peak']:6d} MB (floor {r['floor']:4d} MB, +{r['peak'] - r['floor']} MB)  "
              f"turn {r['seconds']:6.2f} s")


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "tui":
    main_tui()
