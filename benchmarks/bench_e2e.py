"""End-to-end figures: the real `oi-tui` command in a real terminal (tmux) against the scripted server.

    python benchmarks/bench_e2e.py [--quick] [--only NAME ...]

Every figure is measured from a launch or a keystroke to the moment the text is visible in the
terminal (tmux capture-pane), and printed next to its floor measured in the same run: a bare
Textual app's first frame, litellm alone consuming the same stream, idle key echo.
Targets are printed beside each figure; nothing here fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from benchmarks.terminal_driver import (  # noqa: E402
    Terminal,
    app_rss_mb,
    bare_app_command,
    environment_note,
    isolated_env,
    key_echo,
    oi_tui_command,
    percentile,
)
from tests.llm_server import Reply, ScriptedLLM  # noqa: E402

READY_MARK = "Ask for something"  # the prompt's placeholder: on the first frame
#: Figures for the README and for comparing runs (printed as JSON at the end).
RESULTS: dict[str, object] = {}


def row(name: str, value: str, floor: str = "", target: str = "") -> None:
    print(f"  {name:<46} {value:<24} {('floor ' + floor) if floor else '':<28} {('target ' + target) if target else ''}")


def prompt_text(screen: str) -> str:
    """The bottom rows, where the prompt is (the footer is the last row)."""
    return "\n".join(screen.rstrip("\n").split("\n")[-7:])


def conversation_rows(screen: str) -> list[str]:
    """The rows between the status line and the prompt (the transcript and the workbench)."""
    rows = screen.rstrip("\n").split("\n")
    return rows[1:-7]


def settled_rss_mb(t: Terminal, timeout: float = 45.0) -> float:
    """The app's RSS once it stops growing (litellm's import, ~100 MB, finishes in the background)."""
    deadline = time.monotonic() + timeout
    readings = [app_rss_mb(t)]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        readings.append(app_rss_mb(t))
        if len(readings) >= 4 and max(readings[-4:]) - min(readings[-4:]) < 2.0:
            break
    return readings[-1]


def paragraphs(count_chars: int, paragraph: int = 360) -> str:
    words = "the quick brown fox jumps over a lazy dog while streaming tokens render smoothly".split()
    out, size, i = [], 0, 0
    while size < count_chars:
        para = []
        length = 0
        while length < paragraph:
            word = words[i % len(words)]
            para.append(word)
            length += len(word) + 1
            i += 1
        text = " ".join(para)
        out.append(text)
        size += len(text) + 2
    return "\n\n".join(out)


class Bench:
    def __init__(self) -> None:
        self.server = ScriptedLLM()
        self.home = Path(tempfile.mkdtemp(prefix="oi-bench-e2e-"))

    def app(self, *extra: str, width: int = 120, height: int = 40, home: Path | None = None,
            env_extra: dict[str, str] | None = None) -> Terminal:
        command = oi_tui_command() + ["--model", "openai/bench", "--api_base", self.server.url, "--api_key", "k",
                                      *extra]
        return Terminal(command, width=width, height=height, env=isolated_env(home or self.home, **(env_extra or {})))

    # ------------------------------------------------------------ launch

    def first_frame(self, runs: int) -> None:
        bare, ours, unguarded = [], [], []
        for _ in range(runs):
            with Terminal(bare_app_command(), env=isolated_env(self.home)) as t:
                bare.append(t.wait_for("bare-app-ready"))
            with self.app() as t:
                ours.append(t.wait_for(READY_MARK))
            with self.app(env_extra={"OI_TUI_NO_TERMINAL_GUARD": "1"}) as t:
                unguarded.append(t.wait_for(READY_MARK))
        b, o, u = statistics.median(bare), statistics.median(ours), statistics.median(unguarded)
        RESULTS["launch_s"], RESULTS["launch_bare_s"] = o, b
        row(f"launch to first frame (median of {runs})", f"{o:.3f} s ({o / b:.3f}x)", f"bare app {b:.3f} s", "≤ 1.5x bare")
        row("  of which the terminal guard's fork", f"{(o - u) * 1000:+.0f} ms", f"unguarded {u:.3f} s", "")

    def first_token_after_early_message(self, runs: int) -> None:
        import_times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import litellm"], check=True)
            import_times.append(time.perf_counter() - started)
        figures = []
        for _ in range(runs):
            self.server.reset()
            self.server.queue(Reply(text="EARLY-TOKEN arrived.", chunk_size=64))
            with self.app() as t:
                t.wait_for(READY_MARK)
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - t.started)))
                t.type("hello")
                t.keys("Enter")
                figures.append(t.wait_for("EARLY-TOKEN", timeout=60))
        RESULTS["first_token_s"], RESULTS["litellm_import_s"] = statistics.median(figures), statistics.median(import_times)
        row("message sent 1 s after launch -> first token", f"{statistics.median(figures):.3f} s",
            f"litellm import {statistics.median(import_times):.2f} s", "≤ 0.5 s")

    # ------------------------------------------------------------ streaming

    def warm_stream(self, sizes: list[int]) -> None:
        took_by_size: dict[int, float] = {}
        asyncio.run(self.litellm_alone(Reply(text="warm", chunk_size=4)))  # the floor's own first call is not the floor
        with self.app() as t:
            t.wait_for(READY_MARK)
            self.server.queue("warm-up done.")
            t.type("warm up")
            t.keys("Enter")
            t.wait_for("warm-up done.", timeout=60)
            t.wait_for("ready", timeout=30)
            for size in sizes:
                marker = f"END-OF-REPLY-{size}"
                text = paragraphs(size * 4 - len(marker) - 2) [: size * 4 - len(marker) - 2] + "\n\n" + marker
                reply = Reply(text=text, chunk_size=4)
                self.server.queue(reply)
                t.type(f"stream {size}")
                started = time.perf_counter()
                t.keys("Enter")
                t.wait_for(marker, timeout=300, poll=0.01)
                took = time.perf_counter() - started
                floor = asyncio.run(self.litellm_alone(Reply(text=text, chunk_size=4)))
                lean = asyncio.run(self.httpx_alone(Reply(text=text, chunk_size=4)))
                took_by_size[size] = took
                RESULTS[f"stream_{size}_s"], RESULTS[f"stream_{size}_floor_s"] = took, floor
                RESULTS[f"stream_{size}_httpx_s"] = lean
                # the app streams through litellm once it is imported, through httpx (llm_lean) until then
                row(f"warm stream of {size:,} chunks", f"{took:.2f} s ({took / floor:.2f}x litellm)",
                    f"litellm alone {floor:.2f} s, httpx alone {lean:.2f} s", "≈ floor, linear in chunks")
                t.wait_for("ready", timeout=60)
        if len(took_by_size) == 2:
            small, large = sorted(took_by_size)
            ratio = took_by_size[large] / took_by_size[small]
            row(f"  {large // small}x the chunks -> time", f"{ratio:.2f}x", f"linear {large / small:.1f}x", "≤ linear")

    async def httpx_alone(self, reply: Reply) -> float:
        """Reading and decoding the same server-sent events with httpx alone (what oi_core.llm_lean does)."""
        import httpx

        self.server.queue(reply)
        body = {"model": "bench", "messages": [{"role": "user", "content": "x"}], "stream": True}
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=60) as client:
            async with client.stream("POST", self.server.url + "/chat/completions", json=body,
                                     headers={"Authorization": "Bearer k"}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
        return time.perf_counter() - started

    async def litellm_alone(self, reply: Reply) -> float:
        import litellm

        self.server.queue(reply)
        started = time.perf_counter()
        response = await litellm.acompletion(model="openai/bench", api_base=self.server.url, api_key="k",
                                             messages=[{"role": "user", "content": "x"}], stream=True)
        async for _ in response:
            pass
        return time.perf_counter() - started

    # ------------------------------------------------------------ typing while streaming

    def key_echo(self, keys: int) -> None:
        with self.app() as t:
            t.wait_for(READY_MARK)
            idle, lost = key_echo(t, keys, line_of=prompt_text)
            RESULTS["echo idle"] = self._echo(idle)
            row("key echo, idle (p50 / p99 / max)", self._echo(idle), "", "")
            idle_p50 = percentile(idle, 50)
            cases = [
                ("360-char paragraphs at ~1,000 chunks/s", paragraphs(400_000), 0.0005),
                ("360-char paragraphs at ~200 chunks/s", paragraphs(400_000), 0.005),
                ("one 1 MB paragraph, no blank lines", paragraphs(1_000_000, paragraph=2_000_000), 0.0005),
                ("a 130 KB reply sent all at once (no delay)", paragraphs(130_000), 0.0),
            ]
            for name, text, delay in cases:
                self.server.queue(Reply(text=text, chunk_size=4, chunk_delay=delay))
                t.type("stream please")
                t.keys("Enter")
                t.wait_for(lambda s: "quick brown" in s, timeout=60)
                latencies, lost = key_echo(t, keys, line_of=prompt_text)
                RESULTS[f"echo {name}"] = self._echo(latencies) + f", lost {lost}"
                target = ("p50 ≤ 100 ms, none lost" if "1 MB" in name else "none lost" if "at once" in name
                          else "p50 ≤ 30 ms, max ≤ 100 ms")
                row(f"key echo, {name}", self._echo(latencies) + f", lost {lost}",
                    f"idle p50 {idle_p50 * 1000:.0f} ms", target)
                t.keys("C-u")
                t.keys("Escape")
                t.wait_for(lambda s: "● ready" in s, timeout=60)

    @staticmethod
    def _echo(values: list[float]) -> str:
        if not values:
            return "no samples"
        return (f"{percentile(values, 50) * 1000:.0f} / {percentile(values, 99) * 1000:.0f} / "
                f"{max(values) * 1000:.0f} ms")

    def esc_to_quiet(self, runs: int) -> None:
        figures, after = [], []
        with self.app() as t:
            t.wait_for(READY_MARK)
            for _ in range(runs):
                self.server.queue(Reply(text=paragraphs(600_000), chunk_size=4, chunk_delay=0.0005))
                t.type("long reply")
                t.keys("Enter")
                t.wait_for(lambda s: "quick brown" in s and "● ready" not in s, timeout=120)
                time.sleep(1.5)
                # the last run's "Stopped." toast (3 s) must be gone: it expired in the second after "ready" and
                # was counted as a row that changed after it
                t.wait_for(lambda s: "Stopped." not in s, timeout=10)
                started = time.perf_counter()
                t.keys("Escape")
                t.wait_for(lambda s: "● ready" in s, timeout=60, poll=0.001)
                figures.append(time.perf_counter() - started)
                first = conversation_rows(t.settled_screen())  # the whole frame that says "ready"
                time.sleep(1.0)
                changed = [(a, b) for a, b in zip(first, conversation_rows(t.screen())) if a != b]
                after.append(len(changed))
                RESULTS.setdefault("esc_changed_rows", []).extend(changed)  # what changed, to tell a late
                # render from a capture taken mid-frame
        esc_floor = 0.050  # Textual waits ESCDELAY (we set 50 ms) to tell a lone Esc from a key sequence
        RESULTS["esc_ms"], RESULTS["esc_rows_after"] = statistics.median(figures) * 1000, max(after)
        row("Esc during a long reply -> ready (median)",
            f"{statistics.median(figures) * 1000:.0f} ms, {max(after)} rows change after",
            f"Esc delay {esc_floor * 1000:.0f} ms", "≤ 150 ms, nothing after")

    def palette_typing(self) -> None:
        sequence = ["c", "o", "n", "v", "e", "r", "s"] + ["BSpace"] * 7 + list("switch prof") + \
                   ["BSpace"] * 11 + list("them")
        for label, command in (("bare app", bare_app_command()), ("oi-tui", None)):
            terminal = Terminal(command, env=isolated_env(self.home)) if command else self.app()
            with terminal as t:
                t.wait_for("bare-app-ready" if command else READY_MARK)
                time.sleep(0.5)
                t.keys("C-p")
                time.sleep(0.5)
                for key in sequence:
                    if key == "BSpace":
                        t.keys("BSpace")
                    else:
                        t.type(key)
                time.sleep(1.5)
                field = next((line for line in t.screen().split("\n") if "🔎" in line or "Search" in line), "")
                RESULTS[f"palette {label}"] = field.strip()[:30]
                row(f"palette typed fast ({label})", repr(field.strip()[:30]), "", "reads 'them'")

    # ------------------------------------------------------------ heavy content

    def big_table(self, rows: int) -> None:
        """A reply that is one 3,000-row Markdown table: time until its last row shows, and memory."""
        table = "| row | name | value | note |\n|---|---|---:|---|\n" + "".join(
            f"| {i} | item-{i} | {i * 7} | {'x' * (i % 30)} |\n" for i in range(rows)) + "\nTABLE-DONE"
        with self.app() as t:
            t.wait_for(READY_MARK)
            before = settled_rss_mb(t)
            self.server.queue(Reply(text=table, chunk_size=64))
            t.type("table please")
            started = time.perf_counter()
            t.keys("Enter")
            t.wait_for("TABLE-DONE", timeout=300, poll=0.01)
            t.wait_for("● ready", timeout=300, poll=0.01)
            took = time.perf_counter() - started
            after = settled_rss_mb(t)
        floor = asyncio.run(self.litellm_alone(Reply(text=table, chunk_size=64)))
        RESULTS.update({"table_s": took, "table_floor_s": floor, "table_rss_growth_mb": after - before})
        row(f"reply of a {rows:,}-row table -> shown", f"{took:.2f} s", f"litellm alone {floor:.2f} s",
            "≤ 1 s over the floor")
        row("  app memory growth", f"{after - before:+.0f} MB ({before:.0f} -> {after:.0f})", "", "bounded")

    # ------------------------------------------------------------ long sessions

    def long_session(self, messages: int) -> None:
        home = Path(tempfile.mkdtemp(prefix="oi-bench-long-"))
        env = isolated_env(home)
        self._write_session(env, messages)
        load_floor = self._load_time(env)
        with self.app(home=home) as t:  # floors: a fresh app's memory and idle key echo, in this run
            t.wait_for(READY_MARK)
            fresh_rss = settled_rss_mb(t)
            idle, _ = key_echo(t, 30, line_of=prompt_text)
        with self.app("--conversations", home=home) as t:
            t.wait_for(lambda s: "LONG-SESSION" in s and "Search titles" in s, timeout=60)
            started = time.perf_counter()
            t.keys("Enter")
            t.wait_for(lambda s: "Search titles" not in s and READY_MARK in s
                       and "final-message-of-the-session" in s, timeout=120, poll=0.002)
            resume = time.perf_counter() - started
            rss = settled_rss_mb(t)
            echo, lost = key_echo(t, 40, line_of=prompt_text)
            t.keys("C-u")
            up, up_still = self._scroll_times(t, "PageUp", 30)  # past the mounted part: pages of older messages
            down, down_still = self._scroll_times(t, "PageDown", 30)
            scroll = up + down
            rss_after = settled_rss_mb(t)
        RESULTS.update({"resume_s": resume, "resume_floor_s": load_floor, "session_rss_mb": rss,
                        "session_rss_after_mb": rss_after, "fresh_rss_mb": fresh_rss,
                        "session_echo": self._echo(echo), "session_scroll": self._echo(scroll)})
        row(f"resume a {messages:,}-message session", f"{resume:.2f} s", f"load+parse {load_floor:.2f} s", "≤ 1 s")
        row("  app RSS after resume / after scrolling", f"{rss:.0f} / {rss_after:.0f} MB",
            f"fresh app {fresh_rss:.0f} MB", "flat after warm-up (RSS read once it stops growing)")
        row("  key echo (p50 / p99 / max)", self._echo(echo) + f", lost {lost}",
            f"idle p50 {percentile(idle, 50) * 1000:.0f} ms", "p99 ≤ 50 ms")
        RESULTS["session_scroll_still"] = [up_still, down_still]
        row("  PageUp/PageDown scroll (p50 / p99 / max)", self._echo(scroll) if scroll else "PageUp does nothing",
            "", "p99 ≤ 50 ms")
        row("  presses that moved nothing (PageUp / PageDown)", f"{up_still} / {down_still} of 30",
            "", "PageUp 0 (older messages come a page at a time)")

    @staticmethod
    def _scroll_times(t: Terminal, key: str, count: int) -> tuple[list[float], int]:
        """Seconds from each press to the moved view, and how many presses moved nothing (at an end)."""
        times, still = [], 0
        for _ in range(count):
            before = conversation_rows(t.screen())
            started = time.perf_counter()
            t.keys(key)
            try:
                t.wait_for(lambda s, b=before: conversation_rows(s) != b, timeout=2, poll=0.001)
                times.append(time.perf_counter() - started)
            except TimeoutError:  # at the top or bottom already
                still += 1
            time.sleep(0.05)
        return times, still

    @staticmethod
    def _load_time(env: dict[str, str]) -> float:
        """The floor for resuming: reading and parsing the saved conversation in a fresh Python process."""
        script = ("import time; t = time.perf_counter(); from oi_core.conversations import ConversationStore; "
                  "s = ConversationStore(); t = time.perf_counter(); s.load('long-session'); "
                  "print(time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                             env={**os.environ, **env})
        return float(out.stdout.strip().splitlines()[-1])

    @staticmethod
    def _write_session(env: dict[str, str], count: int) -> None:
        """A saved conversation of `count` messages: 1/5 code blocks with output, 20 images."""
        script = f"""
import base64, io, os
from PIL import Image
from oi_core.conversations import ConversationStore
buf = io.BytesIO(); Image.new("RGB", (64, 48), (200, 80, 40)).save(buf, "PNG")
png = base64.b64encode(buf.getvalue()).decode()
messages, i = [], 0
while len(messages) < {count} - 1:
    messages.append({{"role": "user", "type": "message", "content": f"question {{i}}: please do step {{i}}"}})
    messages.append({{"role": "assistant", "type": "message", "content": "Sure. " + "Some explanation. " * 20}})
    messages.append({{"role": "assistant", "type": "code", "format": "python", "content": f"print({{i}} * 2)"}})
    messages.append({{"role": "computer", "type": "console", "format": "output", "content": f"{{i * 2}}\\n" * 5}})
    if i % 10 == 0 and i < 200:
        messages.append({{"role": "computer", "type": "image", "format": "base64.png", "content": png}})
    i += 1
messages = messages[: {count} - 1]
messages.append({{"role": "assistant", "type": "message", "content": "final-message-of-the-session"}})
ConversationStore().save("long-session", messages, title="LONG-SESSION")
"""
        subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, **env})


def compiled_as_installed() -> None:
    """Bytecode for our packages, as `pip install` writes it (PYTHONDONTWRITEBYTECODE would leave it out).

    Without it every launch compiles ~90 modules (~150 ms) that a user's launch never compiles: the bare app's
    Textual has its bytecode from its own install, so the comparison would not be fair.
    """
    import compileall

    for package in ("oi_core", "oi_tui"):
        compileall.compile_dir(ROOT / package, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    runs = 3 if args.quick else 7
    compiled_as_installed()
    bench = Bench()
    print(f"oi-tui end to end, in tmux 120x40 ({environment_note()})")
    steps = {
        "launch": lambda: bench.first_frame(2 * runs + 1),  # ~0.3 s each, and the bare app's swings ±15%
        "first-token": lambda: bench.first_token_after_early_message(max(2, runs // 2)),
        "stream": lambda: bench.warm_stream([2_500, 10_000]),
        "echo": lambda: bench.key_echo(40 if args.quick else 80),
        "esc": lambda: bench.esc_to_quiet(3 if args.quick else 5),
        "palette": bench.palette_typing,
        "table": lambda: bench.big_table(3_000),
        "long": lambda: bench.long_session(1_000),
    }
    for name, step in steps.items():
        if args.only and name not in args.only:
            continue
        try:
            step()
        except Exception as exc:  # keep going: one broken figure should not hide the others
            row(name, f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}")
    bench.server.close()
    print(json.dumps({"results": RESULTS}, default=str))


if __name__ == "__main__":
    main()
