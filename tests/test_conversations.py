"""Conversation storage: autosave, atomic writes, corrupt files, search, rename/delete, export, resume."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from oi_core import conversations
from oi_core.conversations import (
    ConversationCorrupt,
    ConversationNotFound,
    ConversationRelocated,
    ConversationStore,
    split_for_resume,
)
from tests.llm_server import Reply

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

SAMPLE = [
    {"role": "user", "type": "message", "content": "Plot a sine wave\nwith matplotlib"},
    {"role": "assistant", "type": "message", "content": "Sure, here is the plan."},
    {"role": "assistant", "type": "code", "format": "python", "content": "print('hello pandas')"},
    {"role": "computer", "type": "console", "format": "output", "content": "hello pandas\n"},
    {"role": "computer", "type": "image", "format": "base64.png", "content": PNG},
    {"role": "assistant", "type": "message", "content": "Done: the wave is shown above."},
]


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def saved_messages(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())["messages"]
    except (OSError, ValueError, KeyError):
        return []


# ---------------------------------------------------------------- autosave through the core


def test_autosave_after_each_message_during_a_turn(make_interpreter, llm, data_dir):
    interp = make_interpreter()
    interp.conversation_history = True
    interp.conversation_history_path = str(data_dir)
    llm.queue("First answer.")
    path = data_dir / f"{interp.conversation_id}.json"
    seen_counts = []
    for chunk in interp.chat("hi there", display=False, stream=True):
        if chunk.get("start") and chunk.get("role") == "assistant":
            # the user's message is already on disk before the model's answer streams in
            assert wait_for(lambda: len(saved_messages(path)) >= 1)
            seen_counts.append(len(saved_messages(path)))
    assert wait_for(lambda: len(saved_messages(path)) == len(interp.messages) == 2)
    assert seen_counts and seen_counts[0] >= 1
    header = json.loads(path.read_text())["header"]
    assert header["title"] == "hi there"
    assert header["message_count"] == 2
    assert header["snippet"] == "First answer."
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "test-key" not in path.read_text()

    llm.queue("Second answer.")
    interp.chat("and again", display=False)
    assert wait_for(lambda: len(saved_messages(path)) == 4)
    assert [m["content"] for m in saved_messages(path)] == ["hi there", "First answer.", "and again", "Second answer."]


def test_conversation_history_false_writes_nothing(make_interpreter, llm, data_dir):
    interp = make_interpreter()
    interp.conversation_history = False
    interp.conversation_history_path = str(data_dir)
    llm.queue("Nothing saved.")
    interp.chat("hi", display=False)
    time.sleep(0.2)
    assert list(data_dir.iterdir()) == []


def test_conversation_filename_is_honoured(make_interpreter, llm, tmp_path):
    folder = tmp_path / "my_folder" / "conversations"
    interp = make_interpreter()
    interp.conversation_history = True
    interp.conversation_history_path = str(folder)
    interp.conversation_filename = "my_conversation.json"
    llm.queue("Saved by name.")
    interp.chat("hi", display=False)
    path = folder / "my_conversation.json"
    assert wait_for(lambda: len(saved_messages(path)) == 2)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    store = ConversationStore(folder)
    assert [info.id for info in store.list()] == ["my_conversation"]


def test_default_folder_is_platform_data_dir_with_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert conversations.default_conversations_dir() == tmp_path / "xdg" / "oi-tui" / "conversations"
    store = ConversationStore()
    store.save("abc", SAMPLE)
    assert (conversations.default_conversations_dir() / "abc.json").exists()
    assert stat.S_IMODE(conversations.default_conversations_dir().stat().st_mode) == 0o700


def test_api_keys_never_written(tmp_path):
    store = ConversationStore(tmp_path)
    secret = "my-own-provider-key-123456"
    messages = [
        {"role": "user", "type": "message", "content": f"my key is {secret} and sk-abcdefghijklmnopqrstuvwxyz0123"},
        {"role": "assistant", "type": "code", "format": "python", "content": "x=1", "api_key": "zzz-secret", "extra": {"OPENAI_API_KEY": "k"}},
        {"role": "computer", "type": "image", "format": "base64.png", "content": PNG},
    ]
    path = store.save("keys", messages, secrets=(secret,))
    text = path.read_text()
    for leaked in (secret, "sk-abcdefghijklmnopqrstuvwxyz0123", "zzz-secret", '"k"'):
        assert leaked not in text
    assert store.load("keys")[2]["content"] == PNG  # images untouched
    assert messages[1]["api_key"] == "zzz-secret"  # the caller's data is not modified


# ---------------------------------------------------------------- atomic writes


WRITER = """
import sys
from oi_core.conversations import ConversationStore
store = ConversationStore(sys.argv[1])
store.save("victim", [{"role": "user", "type": "message", "content": "NEW VERSION " + "x" * 200000}])
print("saved")
"""


@pytest.mark.parametrize("hook", ["env", "sigkill"])
def test_crash_between_write_and_rename_keeps_previous_version(tmp_path, hook):
    store = ConversationStore(tmp_path)
    store.save("victim", SAMPLE)
    before = (tmp_path / "victim.json").read_bytes()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    if hook == "env":
        env[conversations.CRASH_HOOK_ENV] = "77"
        result = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 77, result.stderr
    else:
        # SIGKILL from outside while the writer is stopped between fsync and rename
        env[conversations.CRASH_HOOK_ENV] = ""
        script = WRITER.replace(
            "from oi_core.conversations import ConversationStore",
            "import os, signal\nimport oi_core.conversations as c\nfrom oi_core.conversations import ConversationStore\n"
            "real = os.replace\n"
            "def stop_then_replace(a, b):\n    os.kill(os.getpid(), signal.SIGSTOP)\n    real(a, b)\n"
            "c.os.replace = stop_then_replace",
        )
        proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env, stdout=subprocess.PIPE)
        assert wait_for(lambda: _is_stopped(proc.pid), timeout=30)
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".victim.json.")]
        assert temps and temps[0].stat().st_size > 200000  # fully written, not yet renamed
        proc.kill()
        proc.wait(timeout=10)
        assert proc.returncode == -9
    assert (tmp_path / "victim.json").read_bytes() == before
    assert store.load("victim") == SAMPLE
    assert [info.id for info in store.list()] == ["victim"]  # leftover temp files are not conversations
    assert store.problems == []
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert temps  # a fresh leftover might belong to a writer still running: kept
    old = time.time() - conversations.STALE_TEMP_SECONDS - 60
    for temp in temps:
        os.utime(temp, (old, old))
    store.list()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _is_stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


# ---------------------------------------------------------------- corrupt files


def test_corrupt_files_are_skipped_named_and_never_overwritten(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("good", SAMPLE)
    (tmp_path / "broken.json").write_text('{"header": {"id": "broken"},\n"messages": [\n{"role": "user", "con')
    (tmp_path / "edited.json").write_text('[{"role": "user", "type": "message", "content": "hand made"}, 42]')
    (tmp_path / "notjson.json").write_bytes(b"\xff\xfe garbage")
    listed = store.list()
    assert [info.id for info in listed] == ["good"]
    problems = {p.path.name: str(p) for p in store.problems}
    assert set(problems) == {"broken.json", "edited.json", "notjson.json"}
    assert "broken.json" in problems["broken.json"] and "not valid JSON" in problems["broken.json"]
    assert "message 2 is not a JSON object" in problems["edited.json"]
    originals = {name: (tmp_path / name).read_bytes() for name in problems}

    with pytest.raises(ConversationCorrupt) as info:
        store.save("broken", SAMPLE)
    assert "broken.json" in str(info.value) and "untouched" in str(info.value)
    with pytest.raises(ConversationCorrupt):
        store.load("edited")
    with pytest.raises(ConversationCorrupt):
        store.rename("notjson", "x")
    for name, data in originals.items():
        assert (tmp_path / name).read_bytes() == data
    # the index remembers them as problems too (listing twice reports the same)
    store.list()
    assert {p.path.name for p in store.problems} == set(problems)


def test_autosave_onto_a_corrupt_file_saves_elsewhere(tmp_path):
    class Llm:
        api_key = "sekrit-key-value"

    class Interp:
        conversation_history = True
        conversation_history_path = str(tmp_path)
        conversation_filename = None
        conversation_id = "taken"
        llm = Llm()

    (tmp_path / "taken.json").write_text("{ hand edited, broken")
    interp = Interp()
    with pytest.raises(ConversationRelocated) as info:
        conversations.autosave(interp, SAMPLE)
    assert "taken.json" in str(info.value) and "taken-2.json" in str(info.value)
    assert (tmp_path / "taken.json").read_text() == "{ hand edited, broken"
    assert interp.conversation_id == "taken-2"
    assert ConversationStore(tmp_path).load("taken-2") == SAMPLE
    conversations.autosave(interp, SAMPLE + SAMPLE)  # later saves go to the new file quietly
    assert len(ConversationStore(tmp_path).load("taken-2")) == 12


def test_plain_list_files_from_the_reference_are_readable(tmp_path):
    (tmp_path / "Plot_a_sine__2024.json").write_text(json.dumps(SAMPLE, indent=2))
    store = ConversationStore(tmp_path)
    [info] = store.list()
    assert info.title == "Plot a sine wave" and info.message_count == 6
    assert store.load(info.id) == SAMPLE


def test_index_self_heals(tmp_path):
    store = ConversationStore(tmp_path)
    for n in range(5):
        store.save(f"c{n}", [{"role": "user", "type": "message", "content": f"conversation {n}"}])
    assert len(store.list()) == 5
    index = tmp_path / conversations.INDEX_NAME
    assert index.exists() and stat.S_IMODE(index.stat().st_mode) == 0o600
    index.write_text("{{{ not json")
    assert len(store.list()) == 5
    json.loads(index.read_text())
    # stale entries: a file changed behind the index's back, one deleted, one added
    entries = json.loads(index.read_text())
    entries["entries"]["ghost.json"] = entries["entries"]["c0.json"]
    index.write_text(json.dumps(entries))
    (tmp_path / "c1.json").unlink()
    ConversationStore(tmp_path).save("c2", [{"role": "user", "type": "message", "content": "renewed"}], title="Renewed")
    ConversationStore(tmp_path).save("c9", [{"role": "user", "type": "message", "content": "newcomer"}])
    infos = {info.id: info for info in ConversationStore(tmp_path).list()}
    assert set(infos) == {"c0", "c2", "c3", "c4", "c9"}
    assert infos["c2"].title == "Renewed"


# ---------------------------------------------------------------- store operations


def test_list_newest_first_metadata_only(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("old", [{"role": "user", "type": "message", "content": "old one"}])
    time.sleep(0.01)
    store.save("new", SAMPLE)
    infos = store.list()
    assert [info.id for info in infos] == ["new", "old"]
    assert infos[0].message_count == 6
    assert infos[0].snippet == "Done: the wave is shown above."
    assert not hasattr(infos[0], "messages")


def test_save_keeps_created_and_custom_title(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("a", SAMPLE[:2])
    created = store.info("a").created
    store.rename("a", "  My   sine\nchart ")
    assert store.info("a").title == "My sine chart"
    time.sleep(0.01)
    store.save("a", SAMPLE)
    info = store.info("a")
    assert info.title == "My sine chart" and info.created == created and info.message_count == 6
    assert info.updated > created


def test_rename_and_delete(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("a", SAMPLE)
    store.save("b", SAMPLE[:1])
    renamed = store.rename("a", "Renamed chat")
    assert renamed.title == "Renamed chat"
    assert store.load("a") == SAMPLE
    assert {i.id: i.title for i in store.list()}["a"] == "Renamed chat"
    with pytest.raises(ValueError):
        store.rename("a", "   ")
    store.delete("b")
    assert [i.id for i in store.list()] == ["a"]
    with pytest.raises(ConversationNotFound):
        store.delete("b")
    with pytest.raises(ConversationNotFound):
        store.load("b")
    with pytest.raises(ValueError):
        store.load("../etc/passwd")


def test_search_titles_fuzzy_and_contents(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("sine", SAMPLE)
    store.save("csv", [{"role": "user", "type": "message", "content": "Convert my CSV files to Excel"},
                       {"role": "assistant", "type": "message", "content": "Use openpyxl for that."}])
    store.save("git", [{"role": "user", "type": "message", "content": "Clean up git branches"}])
    assert [i.id for i in store.search("sine")] == ["sine"]
    assert [i.id for i in store.search("snwave")][0] == "sine"  # fuzzy on titles
    assert [i.id for i in store.search("openpyxl")] == ["csv"]  # contents
    assert [i.id for i in store.search("hello PANDAS")] == ["sine"]  # code output, case-insensitive
    assert store.search("no such thing anywhere") == []
    assert len(store.search("")) == 3
    assert store.search(PNG[20:40]) == []  # image payloads are not searched
    # title matches outrank content matches
    store.save("excel", [{"role": "user", "type": "message", "content": "excel formulas"}])
    assert [i.id for i in store.search("excel")][:2] == ["excel", "csv"]


def test_markdown_export(tmp_path):
    store = ConversationStore(tmp_path / "c")
    store.save("sine", SAMPLE)
    out = store.export_markdown("sine", tmp_path / "sine.md")
    text = out.read_text()
    assert text.startswith("# Plot a sine wave\n")
    assert "## You" in text and "## Assistant" in text
    assert "```python\nprint('hello pandas')\n```" in text
    assert "```\nhello pandas\n```" in text
    assert f"![image](data:image/png;base64,{PNG})" in text


def test_notebook_export(tmp_path):
    store = ConversationStore(tmp_path / "c")
    messages = SAMPLE + [
        {"role": "assistant", "type": "code", "format": "shell", "content": "ls"},
        {"role": "computer", "type": "console", "format": "output", "content": "a.txt"},
    ]
    store.save("sine", messages)
    path = store.export_notebook("sine", tmp_path / "sine.ipynb")
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    markdown = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
    assert len(code) == 2
    assert code[0].source == "print('hello pandas')"
    assert code[0].outputs[0].output_type == "stream" and code[0].outputs[0].text == "hello pandas\n"
    assert code[0].outputs[1].output_type == "display_data" and code[0].outputs[1].data["image/png"] == PNG
    assert code[1].source == "%%bash\nls" and code[1].outputs[0].text == "a.txt\n"
    assert markdown[0].source == "# Plot a sine wave"
    assert "Plot a sine wave" in markdown[1].source and "Done: the wave" in markdown[-1].source


def test_permissions(tmp_path):
    folder = tmp_path / "new" / "conversations"
    store = ConversationStore(folder)
    path = store.save("a", SAMPLE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    store.rename("a", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_listing_5000_conversations_is_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(conversations, "_FSYNC", False)  # generating the fixture only
    store = ConversationStore(tmp_path)
    big_image = "A" * 200_000
    for n in range(5000):
        messages = [{"role": "user", "type": "message", "content": f"Task number {n}: do something"},
                    {"role": "assistant", "type": "message", "content": "Done."}]
        if n % 500 == 0:
            messages.append({"role": "computer", "type": "image", "format": "base64.png", "content": big_image})
        store.save(f"conv{n:05d}", messages)
    monkeypatch.setattr(conversations, "_FSYNC", True)
    cold_start = time.perf_counter()
    infos = ConversationStore(tmp_path).list()  # no index yet: headers only
    cold = time.perf_counter() - cold_start
    assert len(infos) == 5000
    warm_start = time.perf_counter()
    infos = ConversationStore(tmp_path).list()
    warm = time.perf_counter() - warm_start
    assert len(infos) == 5000
    assert infos[0].id == "conv04999"
    assert warm < 1.0, f"listing 5,000 conversations took {warm:.3f} s"  # ~0.16 s quiet (bench_conversations.py)
    assert cold < 4.0, f"first listing (building the index) took {cold:.3f} s"


# ---------------------------------------------------------------- resume


def test_split_for_resume():
    messages = []
    for n in range(250):
        messages.append({"role": "user", "type": "message", "content": f"q{n}"})
        messages.append({"role": "assistant", "type": "message", "content": f"a{n}"})
    split = split_for_resume(messages, recent=40)
    assert len(split.older) + len(split.recent) == 500
    assert 40 <= len(split.recent) <= 60
    assert split.recent[0]["role"] == "user"
    assert split.older + split.recent == messages
    assert split.first_recent_index == len(split.older)
    short = split_for_resume(messages[:10], recent=40)
    assert short.older == [] and len(short.recent) == 10


def test_resume_and_continue_against_the_server(make_interpreter, llm, data_dir):
    store = ConversationStore(data_dir)
    history = [
        {"role": "user", "type": "message", "content": "Remember the word PELICAN."},
        {"role": "assistant", "type": "message", "content": "I will remember PELICAN."},
    ]
    store.save("old-chat", history)
    interp = make_interpreter()
    interp.conversation_history = True
    interp.conversation_history_path = str(data_dir)
    split = conversations.resume(interp, "old-chat", store)
    assert split.recent == history and interp.conversation_id == "old-chat"
    llm.queue("The word was PELICAN.")
    interp.chat("What was the word?", display=False)
    sent = llm.requests[-1]["messages"]
    contents = [str(m.get("content")) for m in sent]
    assert any("Remember the word PELICAN." in c for c in contents)
    assert any("I will remember PELICAN." in c for c in contents)
    assert "What was the word?" in contents[-1]
    # the continued conversation is saved to the same file
    assert wait_for(lambda: len(saved_messages(data_dir / "old-chat.json")) == 4)
    assert [i.id for i in store.list()] == ["old-chat"]


def test_resume_with_plain_load_messages(make_interpreter, llm, data_dir):
    store = ConversationStore(data_dir)
    store.save("plain", SAMPLE[:2])
    interp = make_interpreter()
    interp.load_messages(store.load("plain"), conversation_id="plain")
    llm.queue("Continuing.")
    interp.chat("go on", display=False)
    sent = json.dumps(llm.requests[-1]["messages"])
    assert "Plot a sine wave" in sent and "Sure, here is the plan." in sent


async def test_aresume_reads_the_file_off_the_event_loop(make_interpreter, data_dir, monkeypatch):
    import asyncio
    import threading

    store = ConversationStore(data_dir)
    history = [{"role": "user", "type": "message", "content": "hello"}]
    store.save("async-chat", history)
    loop_thread = threading.get_ident()
    readers = []
    real_load = ConversationStore.load_with_header

    def spying_load(self, conversation_id):
        readers.append(threading.get_ident())
        return real_load(self, conversation_id)

    monkeypatch.setattr(ConversationStore, "load_with_header", spying_load)
    interp = make_interpreter()
    split = await conversations.aresume(interp, "async-chat", store)
    assert split.recent == history and interp.messages == history and interp.conversation_id == "async-chat"
    assert readers and loop_thread not in readers
    with pytest.raises(conversations.ConversationError):
        await conversations.aresume(interp, "missing-chat", store)
    assert interp.messages == history
    await asyncio.sleep(0)


# ---------------------------------------------------------------- robust to what is on disk (issue 11)


def test_deeply_nested_files_are_named_not_fatal(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("good", SAMPLE)
    deep = "[" * 200_000 + "]" * 200_000
    (tmp_path / "deep-list.json").write_text(deep)
    (tmp_path / "deep-message.json").write_text('[{"role": "user", "content": ' + deep + "}]")
    (tmp_path / "deep-header.json").write_text('{"header": ' + "{\"a\": " * 50_000 + "1" + "}" * 50_000 + ",\n\"messages\": [\n]}\n")
    (tmp_path / "deep-tail.json").write_text('{"messages": [\n{"role": "user", "content": ' + deep + '}\n],\n"header": {"message_count": 1}}\n')
    started = time.perf_counter()
    infos = store.list()
    assert time.perf_counter() - started < 10
    # a listing reads only the header at the end of a file, so "deep-tail" is listed, and fails when opened
    assert sorted(info.id for info in infos) == ["deep-tail", "good"]
    problems = {p.path.name: p.reason for p in store.problems}
    assert set(problems) == {"deep-list.json", "deep-message.json", "deep-header.json"}
    assert all("nested too deeply" in reason for reason in problems.values()), problems
    for name in ("deep-message", "deep-tail"):
        with pytest.raises(ConversationCorrupt, match="nested too deeply"):
            store.load(name)
    # a nested index is only a broken cache: rebuilt, never fatal
    (tmp_path / conversations.INDEX_NAME).write_text('{"version": 2, "entries": ' + deep + "}")
    assert sorted(info.id for info in ConversationStore(tmp_path).list()) == ["deep-tail", "good"]


def test_conversations_command_survives_a_nested_file(tmp_path):
    """`oi-tui --conversations` lists a folder holding a nested file (listing runs in the navigator's worker)."""
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    ConversationStore(tmp_path).save("fine", SAMPLE)
    code = (
        "import sys\nfrom oi_core.conversations import ConversationStore\n"
        "store = ConversationStore(sys.argv[1])\n"
        "print([i.id for i in store.list()], [p.reason for p in store.problems])\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    assert result.returncode == 0, result.stderr
    assert "['fine']" in result.stdout and "nested too deeply" in result.stdout


def test_a_message_too_deep_to_save_is_reported_not_fatal(tmp_path):
    store = ConversationStore(tmp_path)
    value: list = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(conversations.ConversationError, match="nested too deeply"):
        store.save("deep", [{"role": "user", "type": "message", "content": value}])
    assert not (tmp_path / "deep.json").exists()


# ---------------------------------------------------------------- incremental autosave (issue 15)


class _Llm:
    api_key = "sekrit-key-value"


class _Interp:
    """The attributes autosave reads; the core's own interpreter is tested through chat() elsewhere."""

    conversation_history = True
    conversation_filename = None

    def __init__(self, folder: Path, conversation_id: str = "chat") -> None:
        self.conversation_history_path = str(folder)
        self.conversation_id = conversation_id
        self.llm = _Llm()
        self.messages: list[dict] = []

    def load_messages(self, messages, conversation_id=None):
        self.messages = [dict(m) for m in messages]
        if conversation_id:
            self.conversation_id = conversation_id


def _turns(count: int, start: int = 0) -> list[dict]:
    return [{"role": "user" if n % 2 == 0 else "assistant", "type": "message", "content": f"message {n}"}
            for n in range(start, start + count)]


def test_autosave_appends_in_place_without_rewriting(tmp_path):
    interp = _Interp(tmp_path)
    messages = _turns(300) + [{"role": "computer", "type": "image", "format": "base64.png", "content": PNG}]
    conversations.autosave(interp, messages)
    path = tmp_path / "chat.json"
    before = path.read_bytes()
    inode = path.stat().st_ino
    for n in range(5):
        messages = messages + [{"role": "assistant", "type": "message", "content": f"later {n}"}]
        conversations.autosave(interp, messages)
    after = path.read_bytes()
    assert path.stat().st_ino == inode  # appended in place: no temp file, no rename
    body_end = before.rindex(b'\n],\n"header": ')
    assert after[:body_end] == before[:body_end]  # the existing messages were not rewritten
    assert json.loads(after)["messages"] == messages  # still one valid JSON document
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    [info] = ConversationStore(tmp_path).list()
    assert info.message_count == 306 and info.snippet == "later 4"
    # an edit far back (a new object for an early message) rewrites from there; a different writer's file
    # (another interpreter) is rewritten whole, atomically
    conversations.autosave(interp, messages[:10])
    assert ConversationStore(tmp_path).load("chat") == messages[:10]
    other = _Interp(tmp_path)
    conversations.autosave(other, [dict(m) for m in messages[:10]] + _turns(1, start=99))
    assert ConversationStore(tmp_path).load("chat") == messages[:10] + _turns(1, start=99)
    assert path.stat().st_ino != inode


def test_a_rename_survives_later_appends(tmp_path):
    interp = _Interp(tmp_path)
    conversations.autosave(interp, _turns(4))
    ConversationStore(tmp_path).rename("chat", "My [x] title")
    conversations.autosave(interp, _turns(6))
    info = ConversationStore(tmp_path).info("chat")
    assert info.title == "My [x] title" and info.message_count == 6
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".json"] == ["chat.json"]  # no fork for a rename


TORN_WRITER = """
import sys
from oi_core import conversations
from tests.test_conversations import _Interp, _turns
interp = _Interp(sys.argv[1])
messages = _turns(50)
conversations.autosave(interp, messages)
import os
os.environ[conversations.TORN_HOOK_ENV] = "73"
conversations.autosave(interp, messages + [{"role": "assistant", "type": "message", "content": "y" * 100000}])
"""


def test_torn_last_line_keeps_every_complete_message(tmp_path):
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", TORN_WRITER, str(tmp_path)], capture_output=True, text=True,
                            timeout=60, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))
    assert result.returncode == 73, result.stderr
    raw = (tmp_path / "chat.json").read_bytes()
    with pytest.raises(ValueError):
        json.loads(raw)  # really torn
    store = ConversationStore(tmp_path)
    assert store.load("chat") == _turns(50)
    [info] = store.list()
    assert info.message_count == 50 and store.problems == []
    # resuming and saving again repairs the file
    interp = _Interp(tmp_path)
    conversations.resume(interp, "chat", store)
    conversations.autosave(interp, interp.messages + [{"role": "user", "type": "message", "content": "again"}])
    assert json.loads((tmp_path / "chat.json").read_bytes())["messages"][-1]["content"] == "again"
    assert len(store.load("chat")) == 51


def test_a_damaged_middle_is_not_mistaken_for_a_torn_tail(tmp_path):
    interp = _Interp(tmp_path)
    conversations.autosave(interp, _turns(20))
    path = tmp_path / "chat.json"
    lines = path.read_bytes().split(b"\n")
    lines[5] = b'{"role": "user", "cont'
    path.write_bytes(b"\n".join(lines))
    damaged = path.read_bytes()
    store = ConversationStore(tmp_path)
    with pytest.raises(ConversationCorrupt):
        store.load("chat")
    assert [p.path.name for p in store.problems] == ["chat.json"]
    with pytest.raises(ConversationRelocated):
        conversations.autosave(_Interp(tmp_path), _turns(21))
    assert path.read_bytes() == damaged


def test_two_writers_in_one_process_fork_instead_of_losing_messages(tmp_path):
    first = _Interp(tmp_path)
    conversations.autosave(first, _turns(2))
    second = _Interp(tmp_path)
    conversations.resume(second, "chat")
    mine = _turns(2) + [{"role": "user", "type": "message", "content": "from the first"}]
    theirs = second.messages + [{"role": "user", "type": "message", "content": "from the second"}]
    conversations.autosave(second, theirs)
    with pytest.raises(conversations.ConversationForked) as info:
        conversations.autosave(first, mine)
    assert "to keep both" in str(info.value) and "(fork)" in str(info.value)
    store = ConversationStore(tmp_path)
    assert store.load("chat") == theirs
    assert first.conversation_id == "chat-2" and store.load("chat-2") == mine
    forked = store.info("chat-2")
    assert forked.forked_from == "chat" and forked.title.endswith("(fork)")
    conversations.autosave(first, mine + _turns(1, start=7))  # the fork continues quietly
    assert len(store.load("chat-2")) == 4 and store.load("chat") == theirs


def test_fork_and_branch(tmp_path):
    store = ConversationStore(tmp_path)
    store.save("base", SAMPLE)
    info = store.fork("base", 2)
    assert info.id == "base-2" and info.forked_from == "base" and info.message_count == 2
    assert store.load("base-2") == SAMPLE[:2] and store.load("base") == SAMPLE
    assert store.fork("base", title="Copy").title == "Copy"
    with pytest.raises(ValueError):
        store.fork("base", 99)
    interp = _Interp(tmp_path, "live")
    interp.messages = _turns(6)
    branched = conversations.branch(interp, 3)
    assert interp.conversation_id == branched.id == "live-2"
    assert interp.messages == _turns(3)
    assert store.load("live") == _turns(6)  # the original is kept as it was
    conversations.autosave(interp, interp.messages + _turns(1, start=9))
    assert store.load("live-2") == _turns(3) + _turns(1, start=9)
    assert store.load("live") == _turns(6)


CHAT_AND_EXIT = """
import os, sys
from oi_core import OpenInterpreter
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = sys.argv[1]
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.llm.context_window = 32000
interp.conversation_history = True
interp.conversation_history_path = sys.argv[2]
interp.conversation_id = sys.argv[3]
interp.chat("hello there", display=False)
os._exit(0)  # no interpreter shutdown at all: returning from chat() must have saved everything
"""


@pytest.mark.timeout(900)
def test_chat_returns_only_after_its_messages_are_saved(llm, tmp_path):
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    for run in range(10):
        llm.queue(Reply(text=f"Final reply {run}."))
        result = subprocess.run([sys.executable, "-c", CHAT_AND_EXIT, llm.url, str(tmp_path), f"run{run}"],
                                capture_output=True, text=True, timeout=120, cwd=root, env=env)
        assert result.returncode == 0, result.stderr
        saved = ConversationStore(tmp_path).load(f"run{run}")
        assert [m["content"] for m in saved] == ["hello there", f"Final reply {run}."], f"run {run}"


ACHAT_AND_EXIT = """
import asyncio, sys
from oi_core import OpenInterpreter
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = sys.argv[1]
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.llm.context_window = 32000
interp.conversation_history = True
interp.conversation_history_path = sys.argv[2]
interp.conversation_id = "async-run"

async def main():
    async for _ in interp.achat("hello async"):
        pass

asyncio.run(main())  # ends without flush_autosave(): the exit handler saves what is pending
"""


@pytest.mark.timeout(300)
def test_pending_saves_are_flushed_at_interpreter_exit(llm, tmp_path):
    root = Path(__file__).resolve().parent.parent
    llm.queue(Reply(text="Async final."))
    result = subprocess.run([sys.executable, "-c", ACHAT_AND_EXIT, llm.url, str(tmp_path)], capture_output=True,
                            text=True, timeout=120, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))
    assert result.returncode == 0, result.stderr
    saved = ConversationStore(tmp_path).load("async-run")
    assert [m["content"] for m in saved] == ["hello async", "Async final."]


TWO_WRITERS = """
import os, sys, time
from oi_core import OpenInterpreter, conversations
url, folder, name, go = sys.argv[1:5]
interp = OpenInterpreter()
interp.llm.model = "openai/test-model"
interp.llm.api_base = url
interp.llm.api_key = "test-key"
interp.llm.supports_functions = False
interp.llm.context_window = 32000
interp.conversation_history = True
interp.conversation_history_path = folder
conversations.resume(interp, "shared")
open(os.path.join(folder, f".ready-{name}"), "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
for turn in range(20):
    interp.chat(f"{name} turn {turn}", display=False)
print(interp.conversation_id)
"""


@pytest.mark.timeout(600)
def test_two_processes_resuming_one_conversation_lose_nothing(llm, tmp_path):
    root = Path(__file__).resolve().parent.parent
    store = ConversationStore(tmp_path)
    store.save("shared", SAMPLE[:2])
    go = tmp_path / ".go"
    env = dict(os.environ, PYTHONPATH=str(root))
    procs = [subprocess.Popen([sys.executable, "-c", TWO_WRITERS, llm.url, str(tmp_path), name, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root, env=env)
             for name in ("alpha", "beta")]
    try:
        assert wait_for(lambda: all((tmp_path / f".ready-{n}").exists() for n in ("alpha", "beta")), timeout=90)
        go.touch()
        outputs = [proc.communicate(timeout=180) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    infos = store.list()
    assert store.problems == []
    saved = {info.id: store.load(info.id) for info in infos}
    for name in ("alpha", "beta"):
        holders = [cid for cid, messages in saved.items()
                   if [m["content"] for m in messages if m["role"] == "user"][1:] == [f"{name} turn {t}" for t in range(20)]]
        assert holders, f"{name}'s 20 turns are not all in one saved conversation: {sorted(saved)}"
        assert saved[holders[0]][:2] == SAMPLE[:2]
    forks = [info for info in infos if info.forked_from == "shared"]
    assert len(forks) == 1 and forks[0].title.endswith("(fork)")  # the second writer went on in a visible fork


def test_a_key_printed_by_code_is_never_saved_or_exported(make_interpreter, llm, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("ACME_DEPLOY_TOKEN", "zq91.Unusual/shape+of_key")
    interp = make_interpreter(auto_run=True)
    interp.conversation_history = True
    llm.queue("```shell\necho token=$ACME_DEPLOY_TOKEN\n```", "Printed zq91.Unusual/shape+of_key for you.")
    interp.chat("show the deploy token", display=False)
    assert any("zq91.Unusual/shape+of_key" in str(m.get("content")) for m in interp.messages)  # it really ran
    path = data_dir / f"{interp.conversation_id}.json"
    text = path.read_text()
    assert "zq91.Unusual/shape+of_key" not in text and "token=zq9…_key" in text  # masked: recognisable, unusable
    assert "test-key" not in text  # the interpreter's own key
    store = ConversationStore(data_dir)
    assert "zq91" not in store.list()[0].snippet
    for export in (store.export_markdown(interp.conversation_id, tmp_path / "out.md"),
                   store.export_notebook(interp.conversation_id, tmp_path / "out.ipynb")):
        assert "zq91.Unusual/shape+of_key" not in export.read_text()
    from oi_core.conversation_export import to_markdown

    assert "zq91.Unusual/shape+of_key" not in to_markdown(interp.messages, "live", interpreter=interp)


def test_a_message_replaced_near_the_end_is_rewritten_in_place(tmp_path):
    interp = _Interp(tmp_path)
    messages = _turns(400) + [{"role": "assistant", "type": "code", "format": "python", "content": "x = 1"},
                              {"role": "computer", "type": "console", "format": "output", "content": "done\n"}]
    conversations.autosave(interp, messages)
    path = tmp_path / "chat.json"
    inode = path.stat().st_ino
    head = path.read_bytes()[:2000]
    # a run's record is added to the code message after its output was saved (as checkpoints do)
    messages = messages[:-2] + [{**messages[-2], "checkpoint": {"files": 1}}, messages[-1]]
    conversations.autosave(interp, messages)
    messages = messages + [{"role": "assistant", "type": "message", "content": "All set."}]
    conversations.autosave(interp, messages)
    assert path.stat().st_ino == inode and path.read_bytes()[:2000] == head  # in place, the start untouched
    assert json.loads(path.read_bytes())["messages"] == messages
    assert not conversations.redo_path(path).exists()
    messages = messages[:100]  # an undo keeps the first hundred messages (still the same objects)
    conversations.autosave(interp, messages)
    assert path.stat().st_ino == inode and ConversationStore(tmp_path).load("chat") == messages
    assert ConversationStore(tmp_path).info("chat").message_count == 100


REPLACING_WRITER = """
import os, sys
from oi_core import conversations
from tests.test_conversations import _Interp, _turns
interp = _Interp(sys.argv[1])
messages = _turns(50)
conversations.autosave(interp, messages)
os.environ[sys.argv[2]] = "74"
changed = messages[:-3] + [{**messages[-3], "content": "edited " + "z" * 50000}] + messages[-2:]
conversations.autosave(interp, changed)
"""


@pytest.mark.parametrize("hook", ["after-redo", "mid-rewrite"])
def test_a_crash_while_rewriting_the_end_leaves_the_old_or_the_new_version(tmp_path, hook):
    root = Path(__file__).resolve().parent.parent
    env_name = conversations.REDO_HOOK_ENV if hook == "after-redo" else conversations.TORN_HOOK_ENV
    result = subprocess.run([sys.executable, "-c", REPLACING_WRITER, str(tmp_path), env_name], capture_output=True,
                            text=True, timeout=60, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))
    assert result.returncode == 74, result.stderr
    old = _turns(50)
    new = old[:-3] + [{**old[-3], "content": "edited " + "z" * 50000}] + old[-2:]
    store = ConversationStore(tmp_path)
    loaded = store.load("chat")
    if hook == "after-redo":
        assert loaded == old  # the rewrite had not started: the file is the old version
    else:
        with pytest.raises(ValueError):
            json.loads((tmp_path / "chat.json").read_bytes())  # the file itself is cut in the middle ...
        assert loaded == new  # ... and the redo record completes it
    assert [info.message_count for info in store.list()] == [len(loaded)]
    interp = _Interp(tmp_path)  # the next writer repairs the file and drops the record
    conversations.resume(interp, "chat", store)
    conversations.autosave(interp, interp.messages + _turns(1, start=50))
    assert json.loads((tmp_path / "chat.json").read_bytes())["messages"] == loaded + _turns(1, start=50)
    assert not conversations.redo_path(tmp_path / "chat.json").exists()


async def test_a_reset_right_after_a_turn_keeps_its_last_messages(make_interpreter, llm, data_dir):
    """The save is captured when a message completes: a new conversation started at once cannot take it."""
    interp = make_interpreter()
    interp.conversation_history = True
    llm.queue("The last reply.")
    first = interp.conversation_id
    with conversations.store_for(interp).writing():  # the disk is slow: every save waits until the reset is done
        async for _ in interp.achat("hello"):
            pass
        await interp.areset()  # ctrl+n straight after the turn, before its saves ran
        second = interp.conversation_id
    await interp.flush_autosave()
    store = ConversationStore(data_dir)
    assert [m["content"] for m in store.load(first)] == ["hello", "The last reply."]
    assert not store.exists(second) and interp.messages == []
