"""Memory of our own process while code floods its output: 1 GB written in 1 MB pieces.

Drives the real path: the scripted OpenAI-compatible server, litellm, the respond loop (auto-run), the
runner and its kernel or shell, and a consumer reading every chunk. Each case runs in a fresh process;
the figure is that process's peak RSS (VmHWM), printed next to its floor: the same process's RSS after
a warm-up turn that ran a one-line block.

    python benchmarks/bench_runner_memory.py [MB]
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


if __name__ == "__main__":
    main()
