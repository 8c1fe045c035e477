"""The fence parser yields the same blocks however the stream is chunked (the reference breaks here)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from oi_core.fences import Code, CodeEnd, CodeStart, FenceParser, Text

RUNNABLE = {"python", "shell", "bash", "javascript", "js", "html", "sh", "py"}


def is_code(language: str) -> bool:
    return language in RUNNABLE


def blocks(events) -> list[tuple]:
    """Merge events into blocks so that chunk boundaries cannot show."""
    out: list[list] = []
    for event in events:
        if isinstance(event, Text):
            if out and out[-1][0] == "text":
                out[-1][1] += event.content
            else:
                out.append(["text", event.content])
        elif isinstance(event, CodeStart):
            out.append(["code", event.language, ""])
        elif isinstance(event, Code):
            assert out and out[-1][0] == "code", "code content outside a code block"
            out[-1][2] += event.content
        elif isinstance(event, CodeEnd):
            assert out and out[-1][0] == "code"
            out[-1].append("closed" if event.closed else "open")
    return [tuple(b) for b in out]


def parse(text: str, cuts: list[int]) -> list[tuple]:
    parser = FenceParser(is_code)
    events = []
    previous = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(text))) + [len(text)]:
        events += parser.feed(text[previous:cut])
        previous = cut
    events += parser.close()
    return blocks(events)


def whole(text: str) -> list[tuple]:
    parser = FenceParser(is_code)
    return blocks(parser.feed(text) + parser.close())


prose = st.text(alphabet=st.sampled_from(list("abc XYZ.,:`~\n-*#")), max_size=40)
code_body = st.text(alphabet=st.sampled_from(list("print(1)=`~ \n\tx'\"")), max_size=40)
language = st.sampled_from(["python", "shell", "js", "", "text", "json", "Python", "bash  extra"])
fence = st.sampled_from(["```", "~~~", "````"])


@st.composite
def documents(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        parts.append(draw(prose))
        marker = draw(fence)
        indent = draw(st.sampled_from(["", " ", "   "]))
        body = draw(code_body)
        parts.append(f"\n{indent}{marker}{draw(language)}\n{body}")
        if draw(st.integers(0, 3)) > 0:  # most fences are closed; some are left open
            parts.append(f"\n{indent}{marker}\n")
    parts.append(draw(prose))
    return "".join(parts)


@settings(max_examples=400, deadline=None)
@given(documents(), st.lists(st.integers(0, 400), max_size=60))
def test_any_chunking_gives_the_same_blocks(text: str, cuts: list[int]) -> None:
    assert parse(text, cuts) == whole(text)


@settings(max_examples=150, deadline=None)
@given(documents(), st.sampled_from([1, 2, 3, 4, 7, 64]))
def test_fixed_chunk_sizes_match_whole(text: str, size: int) -> None:
    assert parse(text, list(range(size, len(text), size))) == whole(text)


def test_prose_code_prose() -> None:
    text = "Let me check.\n\n```python\nimport os\nprint(os.getcwd())\n```\n\nDone."
    assert whole(text) == [
        ("text", "Let me check."),
        ("code", "python", "import os\nprint(os.getcwd())", "closed"),
        ("text", "Done."),
    ]


def test_fence_split_across_chunks_like_the_reference_breaks() -> None:
    text = "Run:\n```python\nprint(1)\n```\n"
    assert parse(text, [6, 7, 8, 9, 10, 20, 21, 22]) == [("text", "Run:"), ("code", "python", "print(1)", "closed")]


def test_unclosed_fence_is_code_that_ends_with_the_stream() -> None:
    assert whole("```shell\nls -la") == [("code", "shell", "ls -la", "open")]


def test_fence_without_language_or_with_a_non_runnable_one_stays_prose() -> None:
    text = "Output looks like:\n```\n42\n```\nand json:\n```json\n{}\n```"
    assert whole(text) == [("text", text)]


def test_tilde_fences_and_longer_closers() -> None:
    assert whole("~~~python\na = '```'\n~~~~\nafter") == [
        ("code", "python", "a = '```'", "closed"),
        ("text", "after"),
    ]


def test_nested_backticks_inside_code_do_not_close_it() -> None:
    text = "````python\ns = '''\n```\n'''\n````\nend"
    assert whole(text) == [("code", "python", "s = '''\n```\n'''", "closed"), ("text", "end")]


def test_inline_triple_backticks_mid_line_are_prose() -> None:
    assert whole("Use ```python fences``` please") == [("text", "Use ```python fences``` please")]


def test_language_is_first_word_lowercased() -> None:
    assert whole("```Python title=x\n1\n```") == [("code", "python", "1", "closed")]


# ---------------------------------------------------------------- fences that name no language

from oi_core.fences import guess_language  # noqa: E402


def guessing(text: str, cuts: list[int] = ()) -> list[tuple]:
    parser = FenceParser(is_code, guess=guess_language)
    events, previous = [], 0
    for point in sorted(set(c for c in cuts if 0 < c < len(text))) + [len(text)]:
        events += parser.feed(text[previous:point])
        previous = point
    events += parser.close()
    guessed = [e.guessed for e in events if isinstance(e, CodeStart)]
    return blocks(events) + [("guessed", guessed)]


def test_untagged_python_is_offered_as_guessed_python() -> None:
    text = "Let me look.\n```\nimport os\nprint(os.getcwd())\n```\nthen more"
    assert guessing(text) == [("text", "Let me look."), ("code", "python", "import os\nprint(os.getcwd())", "closed"),
                              ("text", "then more"), ("guessed", [True])]


def test_untagged_plain_shell_is_offered_as_guessed_shell() -> None:
    assert guessing("```\nls -la ~/Downloads | head\n```") == [
        ("code", "shell", "ls -la ~/Downloads | head", "closed"), ("guessed", [True])]


def test_untagged_output_samples_stay_readable_prose() -> None:
    for sample in ("42", "[1, 2, 3]", "Hello, world!", "total 8\ndrwxr-xr-x 2 root root 4096 .", "$ ls\nnotes.txt"):
        text = f"It printed:\n```\n{sample}\n```\nas expected."
        assert guessing(text) == [("text", text), ("guessed", [])], sample


def test_an_unclosed_untagged_fence_is_guessed_when_the_stream_ends() -> None:
    assert guessing("```\nx = 2\nprint(x * 21)") == [("code", "python", "x = 2\nprint(x * 21)", "open"),
                                                        ("guessed", [True])]


def test_tagged_fences_are_never_marked_guessed() -> None:
    assert guessing("```python\n42\n```") == [("code", "python", "42", "closed"), ("guessed", [False])]


untagged_body = st.sampled_from(["print(1)", "x = 1\nprint(x)", "42", "ls -la", "Hello there", "[1, 2]", "echo hi"])


@settings(max_examples=200, deadline=None)
@given(prose, untagged_body, prose, st.booleans(), st.lists(st.integers(0, 200), max_size=40))
def test_guessing_gives_the_same_blocks_however_it_is_chunked(before, body, after, closed, cuts) -> None:
    text = f"{before}\n```\n{body}\n" + ("```\n" if closed else "") + after
    assert guessing(text, cuts) == guessing(text)
