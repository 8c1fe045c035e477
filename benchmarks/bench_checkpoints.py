"""Checkpoint and restore time on a 20,000-file tree with 10 changed files, each figure next to its floor.

Drives the real path: `RunCheckpoints.before_run` (snapshot before a run), the "run" (10 files edited
on disk), `after_run` (snapshot after it and the change summary stored on the code message), and
`undo` (the 10 files put back). Floors, measured in the same run on the same tree: `git status` (what
any git tool pays to look at the tree) and `git checkout -- <10 files>` (git putting back 10 files).

    python benchmarks/bench_checkpoints.py [--files 20000] [--changed 10] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TARGET_WARM_MS = 300


def build_tree(root: Path, files: int) -> list[Path]:
    paths = []
    per_folder = 100
    for n in range(files):
        folder = root / f"pkg{n // per_folder:03d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"module_{n % per_folder:03d}.py"
        path.write_text(f"# file {n}\n" + "".join(f"value_{i} = {i * n}\n" for i in range(12)))
        paths.append(path)
    return paths


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def row(name: str, ms: float, floor_name: str, floor_ms: float) -> None:
    print(f"{name:<46} {ms:8.1f} ms   floor {floor_name:<28} {floor_ms:8.1f} ms   ({ms / floor_ms:4.1f}x)")


async def main(files: int, changed: int, rounds: int) -> int:
    from oi_core import OpenInterpreter

    with tempfile.TemporaryDirectory(prefix="oi-bench-ckpt-") as temp:
        base = Path(temp)
        os.environ["XDG_STATE_HOME"] = str(base / "state")
        root = base / "tree"
        root.mkdir()
        print(f"Building {files:,} files …", flush=True)
        paths = build_tree(root, files)
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "tree")
        os.chdir(root)

        interp = OpenInterpreter()
        interp.conversation_history = False
        checkpoints = interp.run_checkpoints
        interp.messages = [{"role": "assistant", "type": "code", "format": "python", "content": "edit()"}]

        start = time.perf_counter()
        await checkpoints.before_run(0, "python", "edit()", None)
        cold_ms = (time.perf_counter() - start) * 1000
        await checkpoints.after_run(0)

        warm_before, warm_after, undo_ms, status_ms, checkout_ms = [], [], [], [], []
        for round_number in range(rounds):
            for _ in range(2):  # git status, warm
                status = timed(lambda: git(root, "status", "--porcelain"))
            status_ms.append(status)
            start = time.perf_counter()
            await checkpoints.before_run(0, "python", "edit()", None)
            warm_before.append((time.perf_counter() - start) * 1000)
            victims = paths[round_number * changed : (round_number + 1) * changed]
            for path in victims:
                with open(path, "a") as handle:
                    handle.write(f"changed = {round_number}\n")
            start = time.perf_counter()
            await checkpoints.after_run(0)
            warm_after.append((time.perf_counter() - start) * 1000)
            record = interp.messages[0]["checkpoint"]
            assert record["counts"]["modified"] == changed, record["counts"]
            interp.messages = interp.messages[:1]
            start = time.perf_counter()
            result = await checkpoints.undo()
            undo_ms.append((time.perf_counter() - start) * 1000)
            assert len(result.written) == changed, result.describe()
            interp.messages = [{k: v for k, v in interp.messages[0].items() if k != "checkpoint"}]
            for path in victims:  # the floor: git itself putting the same files back
                with open(path, "a") as handle:
                    handle.write("again\n")
            checkout_ms.append(timed(lambda: git(root, "checkout", "--", *[str(p.relative_to(root)) for p in victims])))

        median = statistics.median
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nTree: {files:,} files, {changed} changed per run, {rounds} rounds (medians); "
              f"load average {load} on {os.cpu_count()} cores")
        row("first checkpoint (cold, hashes every file)", cold_ms, "git status (warm)", median(status_ms))
        row("checkpoint before a run (warm)", median(warm_before), "git status (warm)", median(status_ms))
        row("after the run: checkpoint + change summary", median(warm_after), "git status (warm)", median(status_ms))
        row(f"undo: {changed} files put back", median(undo_ms), f"git checkout -- {changed} files", median(checkout_ms))
        worst = max(median(warm_before), median(warm_after))
        verdict = "OK" if worst <= TARGET_WARM_MS else "OVER TARGET"
        print(f"\nTarget: warm checkpoint <= {TARGET_WARM_MS} ms -> {worst:.1f} ms {verdict}")
        interp.terminate()
        return 0 if worst <= TARGET_WARM_MS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.files, options.changed, options.rounds)))
