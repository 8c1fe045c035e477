"""Output floods stay within a stated memory bound, from the kernel to what the conversation keeps."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oi_core.computer.computer import Computer
from oi_core.computer.languages.python import Python
from oi_core.respond import BoundedText


def rss_mb(key: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    raise AssertionError(key)


@pytest.fixture(scope="module")
def computer():
    c = Computer()
    c.languages = [Python]
    c.run("python", "pass")
    yield c
    c.terminate()
    c._loop_thread().stop()


def test_python_flood_is_cut_in_the_kernel(computer):
    """300 MB in 1 MB pieces: the head, a note, the tail; quickly, and without growing our process."""
    before = rss_mb()
    start = time.perf_counter()
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(300):\n    sys.stdout.write(chunk)\nprint('end')\n"
    got = [c for c in computer.run("python", code, stream=True) if c.get("format") == "output"]
    elapsed = time.perf_counter() - start
    out = "".join(c["content"] for c in got)
    assert out.startswith("x" * 1000) and out.endswith("xend\n")
    assert "characters of output skipped" in out and len(out) < 4_000_000
    assert elapsed < 20
    assert rss_mb() - before < 100


def test_flood_across_cells_keeps_output_flowing(computer):
    """The budget is per quarter second, not per run: slow output after a burst is shown in full."""
    code = "import sys, time\nsys.stdout.write('y' * 5_000_000)\ntime.sleep(0.4)\nfor i in range(3):\n    print('line', i)\n"
    out = "".join(c["content"] for c in computer.run("python", code, stream=True) if c.get("format") == "output")
    assert out.endswith("line 0\nline 1\nline 2\n")
    assert "characters of output skipped" in out


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=4, max_value=400), st.lists(st.integers(min_value=0, max_value=3000), max_size=60))
def test_bounded_text_holds_at_most_its_bound(limit, sizes):
    kept = BoundedText(limit)
    whole = ""
    for index, size in enumerate(sizes):
        piece = chr(97 + index % 26) * size
        whole += piece
        kept.add(piece)
        assert kept.head_size <= limit // 4 and kept.tail_size <= 2 * limit
        assert sum(map(len, kept.head)) == kept.head_size and sum(map(len, kept.tail)) == kept.tail_size
    text = kept.text()
    if len(whole) <= limit:
        assert text == whole
    else:
        head, tail = limit // 4, limit - limit // 4
        assert text.startswith(whole[:head]) and text.endswith(whole[-tail:])
        assert f"[{len(whole) - limit:,} characters of output not kept]" in text


@pytest.mark.parametrize("language", ["shell", "javascript"])
def test_pipe_flood_is_cut_at_the_reader(language):
    """300 MB from bash or node: head, note, tail, in seconds, and our process does not grow with it."""
    import shutil

    if language == "javascript" and shutil.which("node") is None:
        pytest.skip("node is not installed")
    code = {
        "shell": "head -c 300M /dev/zero | tr '\\0' x\necho end\n",
        "javascript": "const fs = require('fs');\nconst chunk = 'x'.repeat(1 << 20);\n"
        "for (let i = 0; i < 300; i++) fs.writeSync(1, chunk);\nfs.writeSync(1, 'end\\n');\n",
    }[language]
    c = Computer()
    try:
        c.run(language, "echo warm" if language == "shell" else "console.log('warm')")
        before = rss_mb()
        start = time.perf_counter()
        out = "".join(ch["content"] for ch in c.run(language, code, stream=True) if ch.get("format") == "output")
        elapsed = time.perf_counter() - start
    finally:
        c.terminate()
        c._loop_thread().stop()
    assert out.startswith("x" * 1000) and out.endswith("xend\n")
    assert "bytes of output skipped" in out and len(out) < 20_000_000
    assert elapsed < 30
    assert rss_mb() - before < 100


def test_throttle_marks_only_real_loss():
    from oi_core.computer.languages._stream import ThrottledCleaner

    within_tail = ThrottledCleaner(budget=10, window=100, tail=8)
    assert within_tail.feed(b"0123456789abc") + within_tail.finish() == "0123456789abc"
    lossy = ThrottledCleaner(budget=10, window=100, tail=8)
    assert lossy.feed(b"0123456789" + b"x" * 100 + "é".encode()) + lossy.finish() == (
        "0123456789\n[... 94 bytes of output skipped ...]\nxxxxxxé"
    )
