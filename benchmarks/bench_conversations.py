"""Conversation storage benchmark: listing 5,000 conversations, searching them, and resuming a 500-message one.

    python benchmarks/bench_conversations.py [--count 5000] [--messages 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oi_core import conversations  # noqa: E402
from oi_core.conversations import ConversationStore, split_for_resume  # noqa: E402

IMAGE = "iVBORw0KGgo" + "A" * 150_000  # ~150 kB of base64, like a small screenshot


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    results = []
    value = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        results.append(time.perf_counter() - start)
    return statistics.median(results), value


def conversation(n: int) -> list[dict]:
    messages = [
        {"role": "user", "type": "message", "content": f"Task {n}: analyse the sales data for region {n % 17}"},
        {"role": "assistant", "type": "message", "content": "Let me load it with pandas first."},
        {"role": "assistant", "type": "code", "format": "python", "content": f"import pandas as pd\nprint(pd.read_csv('r{n}.csv').describe())"},
        {"role": "computer", "type": "console", "format": "output", "content": "count 100\nmean 4.2\n" * 5},
        {"role": "assistant", "type": "message", "content": f"Region {n % 17} grew by {n % 9} percent."},
    ]
    if n % 100 == 0:
        messages.append({"role": "computer", "type": "image", "format": "base64.png", "content": IMAGE})
    return messages


def long_conversation(count: int) -> list[dict]:
    messages = []
    n = 0
    while len(messages) < count:
        messages.append({"role": "user", "type": "message", "content": f"Step {n}: continue the analysis"})
        messages.append({"role": "assistant", "type": "message", "content": f"Working on step {n}. " + "Details. " * 40})
        messages.append({"role": "assistant", "type": "code", "format": "python", "content": f"x = {n}\nprint(x * 2)"})
        messages.append({"role": "computer", "type": "console", "format": "output", "content": f"{n * 2}\n"})
        if n % 25 == 0:
            messages.append({"role": "computer", "type": "image", "format": "base64.png", "content": IMAGE})
        n += 1
    return messages[:count]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="oi-bench-") as tmp:
        folder = Path(tmp) / "conversations"
        store = ConversationStore(folder)
        conversations._FSYNC = False  # fixture generation only
        start = time.perf_counter()
        for n in range(args.count):
            store.save(f"conv{n:05d}", conversation(n))
        generated = time.perf_counter() - start
        conversations._FSYNC = True
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"generated {args.count} conversations ({size:.1f} MB on disk) in {generated:.1f} s")

        start = time.perf_counter()
        infos = ConversationStore(folder).list()
        cold = time.perf_counter() - start
        assert len(infos) == args.count
        print(f"list, cold (no index: first line of every file, index written): {cold * 1000:8.1f} ms")
        warm, infos = timed(lambda: ConversationStore(folder).list())
        print(f"list, warm (index valid), median of 5:                      {warm * 1000:8.1f} ms")
        for n in range(0, 50):
            store.save(f"conv{n:05d}", conversation(n) + [{"role": "user", "type": "message", "content": "more"}])
        start = time.perf_counter()
        ConversationStore(folder).list()
        stale = time.perf_counter() - start
        print(f"list after 50 conversations changed (index repaired):      {stale * 1000:8.1f} ms")
        (folder / conversations.INDEX_NAME).write_text("corrupt{")
        start = time.perf_counter()
        ConversationStore(folder).list()
        healed = time.perf_counter() - start
        print(f"list with a corrupt index (rebuilt from headers):          {healed * 1000:8.1f} ms")

        search_store = ConversationStore(folder)
        listing = search_store.list()
        title_time, hits = timed(lambda: search_store.search("region 7", listing), repeat=3)
        print(f"search titles 'region 7' ({len(hits)} hits):                        {title_time * 1000:8.1f} ms")
        start = time.perf_counter()
        hits = search_store.search("grew by 4 percent", listing)
        content_cold = time.perf_counter() - start
        print(f"search contents, first time (reads every file) ({len(hits)} hits):   {content_cold * 1000:8.1f} ms")
        content_warm, hits = timed(lambda: search_store.search("grew by 4 percent", listing), repeat=3)
        print(f"search contents, cached:                                    {content_warm * 1000:8.1f} ms")

        long = long_conversation(args.messages)
        start = time.perf_counter()
        store.save("long", long)
        save_time = time.perf_counter() - start
        size = store.file_for("long").stat().st_size / 1e6
        print(f"save a {args.messages}-message conversation ({size:.1f} MB, fsync'd):        {save_time * 1000:8.1f} ms")
        load_time, loaded = timed(lambda: store.load("long"))
        print(f"load it:                                                    {load_time * 1000:8.1f} ms")

        from oi_core import OpenInterpreter

        interp = OpenInterpreter()
        interp.conversation_history_path = str(folder)

        def prepare():
            return conversations.resume(interp, "long", store, recent=40)

        resume_time, split = timed(prepare)
        print(f"resume preparation (load + load_messages + split):          {resume_time * 1000:8.1f} ms"
              f"  -> {len(split.recent)} recent / {len(split.older)} older")
        split_time, _ = timed(lambda: split_for_resume(loaded, 40))
        print(f"split_for_resume alone:                                     {split_time * 1000:8.3f} ms")
        try:
            from oi_tui.widgets.conversation_preview import preview_renderable
        except ImportError:
            return
        preview_time, _ = timed(lambda: preview_renderable("long", loaded), repeat=3)
        print(f"navigator preview renderable (last 80 messages):            {preview_time * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
