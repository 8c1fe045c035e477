"""Runner benchmarks: warm-kernel overhead, active-line cost, big-output streaming.

    /work/venv/bin/python benchmarks/bench_runners.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_client import KernelManager  # noqa: E402

from oi_core.computer.computer import Computer  # noqa: E402

LOOP = "import time\n_t = time.perf_counter()\ntotal = 0\nfor i in range(3_000_000):\n    total += i\nprint(time.perf_counter() - _t)\n"


def raw_execute(kc, code: str) -> str:
    msg_id = kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    kc.get_shell_msg(timeout=30)
    return "".join(out)


def median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    computer = Computer()
    start = time.perf_counter()
    computer._loop_thread().run(computer.terminal.astart("python"))
    print(f"kernel start (astart):                 {(time.perf_counter() - start) * 1000:8.1f} ms")
    try:
        for _ in range(5):
            raw_execute(kc, "print(1)")
            computer.run("python", "print(1)")
        raw = median_time(lambda: raw_execute(kc, "print(1)"), n)
        ours = median_time(lambda: computer.run("python", "print(1)"), n)
        print(f"raw jupyter_client execute print(1):   {raw * 1000:8.2f} ms (median of {n})")
        print(f"computer.run('python', 'print(1)'):    {ours * 1000:8.2f} ms (median of {n})")
        print(f"overhead over raw:                     {(ours - raw) * 1000:8.2f} ms")

        plain = min(float(raw_execute(kc, LOOP)) for _ in range(3))
        traced = []
        lines = []
        for _ in range(3):
            chunks = list(computer.run("python", LOOP, stream=True))
            traced.append(float("".join(c["content"] for c in chunks if c.get("format") == "output")))
            lines.append(sum(1 for c in chunks if c.get("format") == "active_line" and c["content"] is not None))
        print(f"3M-iteration loop, plain kernel:       {plain * 1000:8.1f} ms")
        print(f"3M-iteration loop, with active line:   {min(traced) * 1000:8.1f} ms "
              f"(slowdown x{min(traced) / plain:.2f}, {max(lines)} active_line updates)")

        start = time.perf_counter()
        size = len(raw_execute(kc, "for i in range(200000):\n    print(i)\n"))
        print(f"200,000 lines, raw jupyter_client:     {(time.perf_counter() - start) * 1000:8.1f} ms ({size} chars)")
        for label, language, code in (
            ("python", "python", "for i in range(200000):\n    print(i)\n"),
            ("shell ", "shell", "seq 200000"),
        ):
            start = time.perf_counter()
            chunks = list(computer.run(language, code, stream=True))
            elapsed = time.perf_counter() - start
            size = sum(len(c["content"]) for c in chunks if c.get("format") == "output")
            count = sum(1 for c in chunks if c.get("format") == "output")
            print(f"200,000 lines, {label}:                {elapsed * 1000:8.1f} ms ({size} chars in {count} chunks)")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        computer.terminate()


if __name__ == "__main__":
    main()
