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
    assert warm < 0.3, f"listing 5,000 conversations took {warm:.3f} s"
    assert cold < 2.0, f"first listing (building the index) took {cold:.3f} s"


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
    real_load = ConversationStore.load

    def spying_load(self, conversation_id):
        readers.append(threading.get_ident())
        return real_load(self, conversation_id)

    monkeypatch.setattr(ConversationStore, "load", spying_load)
    interp = make_interpreter()
    split = await conversations.aresume(interp, "async-chat", store)
    assert split.recent == history and interp.messages == history and interp.conversation_id == "async-chat"
    assert readers and loop_thread not in readers
    with pytest.raises(conversations.ConversationError):
        await conversations.aresume(interp, "missing-chat", store)
    assert interp.messages == history
    await asyncio.sleep(0)
