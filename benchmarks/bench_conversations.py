"""Conversation storage benchmark: autosave and resume in a 1,000-message session (each beside its floor),
listing and searching 5,000 conversations, and resuming a long one.

    python benchmarks/bench_conversations.py [--count 5000] [--messages 500] [--session 1000]

Targets (issue 15): autosave of one new message <= 5 ms at 1,000 messages, crash-safe; resume <= 1 s.
The floor for an autosave is a bare os.write + fdatasync of the same bytes to a file in the same folder.
"""

from __future__ import annotations

import argparse
import json
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


def session(turns: int) -> list[dict]:
    """A long working session: per turn a question, a plan, a code block, its output and an answer;
    every tenth output also shows an image (so 1,000 messages hold 200 code blocks and 20 images)."""
    messages = []
    for n in range(turns):
        messages.append({"role": "user", "type": "message", "content": f"Step {n}: now filter the rows where x > {n}"})
        messages.append({"role": "assistant", "type": "message", "content": f"I'll filter on x > {n} and plot it. " * 3})
        messages.append({"role": "assistant", "type": "code", "format": "python",
                         "content": f"df = df[df.x > {n}]\nprint(len(df))\ndf.plot()"})
        messages.append({"role": "computer", "type": "console", "format": "output", "content": f"{1000 - n}\n" * 20})
        if n % 10 == 0:
            messages.append({"role": "computer", "type": "image", "format": "base64.png", "content": IMAGE})
        messages.append({"role": "assistant", "type": "message", "content": f"{1000 - n} rows are left after step {n}."})
    return messages


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_session(folder: Path, size: int) -> None:
    """Autosave one message at a time in a long session, resume it, and compare with the floors."""
    import os

    from oi_core import OpenInterpreter
    from oi_core.conversations import encode_message
    from oi_core.secrets import redactor

    messages = session(size // 5)
    interp = OpenInterpreter()
    interp.conversation_history = True
    interp.conversation_history_path = str(folder)
    interp.conversation_id = "session"
    interp.llm.api_key = "sk-bench-key-0123456789abcdef"
    conversations.autosave(interp, messages)
    images = sum(1 for m in messages if m["type"] == "image")
    code = sum(1 for m in messages if m["type"] == "code")
    mb = (folder / "session.json").stat().st_size / 1e6
    print(f"\nsession of {len(messages)} messages ({code} code blocks with output, {images} images, {mb:.1f} MB on disk)")

    start_count = len(messages)
    saves, floors, sizes = [], [], []
    floor_path = folder / ".floor"
    fd = os.open(floor_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for n in range(60):
            message = {"role": "assistant", "type": "message", "content": f"Another short answer, number {n}."}
            messages = messages + [message]  # the core saves a fresh list each time (copy of interpreter.messages)
            before = (folder / "session.json").stat().st_size
            start = time.perf_counter()
            conversations.autosave(interp, messages)
            saves.append(time.perf_counter() - start)
            written = max(1, (folder / "session.json").stat().st_size - before + 300)  # the line + the new header
            sizes.append(written)
            data = b"x" * written
            start = time.perf_counter()
            os.write(fd, data)
            os.fdatasync(fd)
            floors.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        floor_path.unlink()
    print(f"autosave one new message at {start_count}-{len(messages)} messages (fsync'd): median {statistics.median(saves) * 1000:6.2f} ms, "
          f"p95 {percentile(saves, 0.95) * 1000:6.2f} ms, max {max(saves) * 1000:6.2f} ms   (target <= 5 ms)")
    print(f"  floor: os.write + fdatasync of the same ~{statistics.median(sizes):.0f} bytes:    median "
          f"{statistics.median(floors) * 1000:6.2f} ms, p95 {percentile(floors, 0.95) * 1000:6.2f} ms")
    written, synced = [], []
    path = folder / "session.json"
    for n in range(12):  # what the interpreter does: each message written at once, one fsync when the turn ends
        turn = [{"role": "assistant", "type": "message", "content": f"Turn {n}, message {k}."} for k in range(5)]
        for message in turn:
            messages = messages + [message]
            start = time.perf_counter()
            conversations.autosave(interp, messages, durable=False)
            written.append(time.perf_counter() - start)
        start = time.perf_counter()
        conversations.make_durable([path])
        synced.append(time.perf_counter() - start)
    per_turn = 5 * statistics.median(written) + statistics.median(synced)
    print(f"autosave one new message, written only (fsync at turn end): median {statistics.median(written) * 1000:6.2f} ms, "
          f"p95 {percentile(written, 0.95) * 1000:6.2f} ms")
    print(f"  the turn-end fsync (make_durable):                       median {statistics.median(synced) * 1000:6.2f} ms, "
          f"p95 {percentile(synced, 0.95) * 1000:6.2f} ms")
    print(f"  a 5-message turn: 5 writes + 1 fsync = {per_turn * 1000:6.2f} ms   "
          f"(5 fsync'd saves: {5 * statistics.median(saves) * 1000:6.2f} ms; floor 1 write+fdatasync "
          f"{statistics.median(floors) * 1000:6.2f} ms)")
    replaced = []
    for n in range(20):
        code = {"role": "assistant", "type": "code", "format": "python", "content": f"print({n})"}
        output = {"role": "computer", "type": "console", "format": "output", "content": f"{n}\n"}
        messages = messages + [code, output]
        conversations.autosave(interp, messages)
        messages = messages[:-2] + [{**code, "checkpoint": {"files": n}}, output]  # a run's record, added later
        start = time.perf_counter()
        conversations.autosave(interp, messages)
        replaced.append(time.perf_counter() - start)
    print(f"a message replaced near the end (in place, behind a redo record): median "
          f"{statistics.median(replaced) * 1000:6.2f} ms, p95 {percentile(replaced, 0.95) * 1000:6.2f} ms   (two fdatasyncs)")
    conversations._FSYNC = False
    cpu = []
    for n in range(60):
        messages = messages + [{"role": "assistant", "type": "message", "content": f"cpu only {n}"}]
        start = time.perf_counter()
        conversations.autosave(interp, messages)
        cpu.append(time.perf_counter() - start)
    conversations._FSYNC = True
    print(f"  our own work per autosave (fsync off):                   median {statistics.median(cpu) * 1000:6.2f} ms")
    store = ConversationStore(folder)
    whole, _ = timed(lambda: store.save("session-copy", messages), repeat=3)
    print(f"  for comparison, rewriting the whole file atomically:      median {whole * 1000:6.2f} ms")

    fresh = OpenInterpreter()
    fresh.conversation_history_path = str(folder)
    resume_time, split = timed(lambda: conversations.resume(fresh, "session", store), repeat=5)
    print(f"resume it (read + parse + load_messages + split):           {resume_time * 1000:8.1f} ms   (target <= 1000 ms)"
          f"  -> {len(split.messages)} messages")
    raw = (folder / "session.json").read_bytes()
    floor_time, _ = timed(lambda: json.loads(raw), repeat=5)
    print(f"  floor: json.loads of the same {len(raw) / 1e6:.1f} MB already in memory:     {floor_time * 1000:8.1f} ms")

    red = redactor(interp)
    sample = messages[-100:]
    per_message, _ = timed(lambda: [red.message(m) for m in sample], repeat=5)
    encode, _ = timed(lambda: [encode_message(m) for m in sample], repeat=5)
    print(f"redact one message (every key we hold):                     {per_message / len(sample) * 1e6:8.1f} us"
          f"   (encoding it as JSON: {encode / len(sample) * 1e6:.1f} us)")
    interp.terminate()
    fresh.terminate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--session", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="oi-bench-session-") as tmp:
        bench_session(Path(tmp), args.session)
    print()

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
        print(f"list, cold (no index: the header line of every file, indexed): {cold * 1000:8.1f} ms")
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
