"""Magic commands, each one, through run_magic and through the bus."""

from __future__ import annotations

import asyncio
import json

import pytest

from oi_core import magic
from oi_core.errors import OiError
from oi_core.events import ErrorRaised, InfoShown, MessagesReplaced
from oi_core.magic import run_magic
from oi_core.session import Session

CONVERSATION = [
    {"role": "user", "type": "message", "content": "print hi"},
    {"role": "assistant", "type": "message", "content": "Sure."},
    {"role": "assistant", "type": "code", "format": "python", "content": "print('hi')"},
    {"role": "computer", "type": "console", "format": "output", "content": "hi\n"},
    {"role": "assistant", "type": "message", "content": "It printed hi."},
]


@pytest.fixture
def session(make_interpreter):
    interp = make_interpreter()
    interp.messages = [dict(m) for m in CONVERSATION]
    s = Session(interp)
    yield s


async def test_shell(session):
    out = await run_magic(session, "%% echo magic-$((2+3))")
    assert "magic-5" in out
    with pytest.raises(OiError, match="Nothing to run"):
        await run_magic(session, "%%")
    await session.close()


async def test_verbose(session):
    assert await run_magic(session, "%verbose") == "Verbose mode on."
    assert session.interpreter.verbose is True
    assert await run_magic(session, "%verbose false") == "Verbose mode off."
    assert session.interpreter.verbose is False
    await run_magic(session, "%verbose true")
    assert session.interpreter.verbose is True
    with pytest.raises(OiError, match="true or false"):
        await run_magic(session, "%verbose maybe")


async def test_reset(session):
    replaced = []
    session.bus.on(MessagesReplaced, replaced.append)
    old_id = session.interpreter.conversation_id
    await run_magic(session, "%reset")
    assert session.interpreter.messages == []
    assert session.interpreter.conversation_id != old_id
    assert replaced


async def test_reset_shuts_languages_down_on_the_running_loop(session, monkeypatch):
    loops = []

    async def aterminate():
        loops.append(asyncio.get_running_loop())

    monkeypatch.setattr(session.interpreter.computer.terminal, "aterminate", aterminate)
    await run_magic(session, "%reset")
    assert loops == [asyncio.get_running_loop()], "waiting on another loop would block this one"


async def test_undo(session):
    interp = session.interpreter
    interp.messages += [
        {"role": "user", "type": "message", "content": "second"},
        {"role": "assistant", "type": "message", "content": "answer"},
    ]
    text = await run_magic(session, "%undo")
    assert "Removed" in text
    assert interp.messages == CONVERSATION
    await run_magic(session, "%undo")
    assert interp.messages == []
    assert await run_magic(session, "%undo") == "Nothing to undo."


async def test_save_and_load(session, tmp_path, monkeypatch):
    path = tmp_path / "conv.json"
    text = await run_magic(session, f"%save_message {path}")
    assert str(path) in text
    assert json.loads(path.read_text()) == CONVERSATION
    session.interpreter.messages = []
    await run_magic(session, f"%load_message {path}")
    assert session.interpreter.messages == CONVERSATION
    # defaults: messages.json in the current folder
    monkeypatch.chdir(tmp_path)
    await run_magic(session, "%save_message")
    assert (tmp_path / "messages.json").exists()
    session.interpreter.messages = []
    await run_magic(session, "%load_message")
    assert len(session.interpreter.messages) == len(CONVERSATION)


async def test_load_errors(session, tmp_path):
    with pytest.raises(OiError, match="No file"):
        await run_magic(session, f"%load_message {tmp_path / 'missing.json'}")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(OiError, match="not valid JSON"):
        await run_magic(session, f"%load_message {bad}")
    bad.write_text('{"a": 1}')
    with pytest.raises(OiError, match="list of messages"):
        await run_magic(session, f"%load_message {bad}")


async def test_tokens(session):
    text = await run_magic(session, "%tokens")
    assert "tokens" in text and "openai/test-model" in text
    with_prompt = await run_magic(session, "%tokens how many words is this prompt")
    assert "Your prompt" in with_prompt and "together" in with_prompt


async def test_tokens_cost_for_priced_model(session):
    session.interpreter.llm.model = "gpt-4o"
    text = await run_magic(session, "%tokens hello")
    assert "Estimated input cost: $" in text


async def test_info_masks_key(session):
    session.interpreter.llm.api_key = "sk-super-secret-abcdef"
    session.interpreter.profile = "fast"
    text = await run_magic(session, "%info")
    assert "openai/test-model" in text and "fast" in text and "Python" in text
    assert "sk-super-secret-abcdef" not in text and "cdef" in text


async def test_info_reads_the_keyring_off_the_event_loop(session, monkeypatch):
    import threading

    from oi_core import secrets

    threads = []

    def stored(provider):
        threads.append(threading.current_thread())
        return "sk-from-the-keyring-1234"

    monkeypatch.setattr(secrets, "stored_api_key", stored)
    session.interpreter.llm.api_key = None
    text = await run_magic(session, "%info")
    assert "from keyring" in text
    assert threads and threading.main_thread() not in threads, "a keyring read would freeze the UI"


async def test_files_are_read_and_written_off_the_event_loop(session, tmp_path, monkeypatch):
    import pathlib
    import threading

    threads = []
    write_text, read_text = pathlib.Path.write_text, pathlib.Path.read_text

    def recording_write(self, *args, **kwargs):
        threads.append(threading.current_thread())
        return write_text(self, *args, **kwargs)

    def recording_read(self, *args, **kwargs):
        threads.append(threading.current_thread())
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", recording_write)
    monkeypatch.setattr(pathlib.Path, "read_text", recording_read)
    await run_magic(session, f"%save_message {tmp_path / 'saved'}")
    await run_magic(session, f"%load_message {tmp_path / 'saved'}")
    await run_magic(session, f"%markdown {tmp_path / 'out.md'}")
    assert len(threads) == 3 and threading.main_thread() not in threads, "disk I/O would freeze the UI"


async def test_help_lists_every_command(session):
    text = await run_magic(session, "%help")
    for name in ("%%", "%verbose", "%reset", "%undo", "%save_message", "%load_message", "%tokens", "%info",
                 "%help", "%jupyter", "%markdown"):
        assert name in text


async def test_markdown(session, tmp_path, monkeypatch):
    path = tmp_path / "out.md"
    await run_magic(session, f"%markdown {path}")
    text = path.read_text()
    assert "## You" in text and "print hi" in text and "```python\nprint('hi')\n```" in text and "hi" in text
    monkeypatch.setattr(magic, "downloads_dir", lambda: tmp_path)
    result = await run_magic(session, "%markdown")
    made = [p for p in tmp_path.glob("print_hi_*.md")]
    assert made and str(made[0]) in result


async def test_jupyter(session, tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setattr(magic, "downloads_dir", lambda: tmp_path)
    result = await run_magic(session, "%jupyter")
    made = list(tmp_path.glob("*.ipynb"))
    assert len(made) == 1 and str(made[0]) in result
    notebook = nbformat.read(str(made[0]), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source == "print('hi')"
    assert code[0].outputs[0]["text"] == "hi\n"
    assert any("print hi" in c.source for c in notebook.cells if c.cell_type == "markdown")
    await run_magic(session, f"%jupyter {tmp_path / 'named'}")
    assert (tmp_path / "named.ipynb").exists()


async def test_mistyped_command_suggests(session):
    with pytest.raises(OiError, match=r"Did you mean %undo\?"):
        await run_magic(session, "%undoo")
    with pytest.raises(OiError, match="save_message"):
        await run_magic(session, "%save_mesage x.json")
    with pytest.raises(OiError, match="%help"):
        await run_magic(session, "%zzzzzz")


async def test_through_the_bus(session):
    infos, errors = [], []
    session.bus.on(InfoShown, infos.append)
    session.bus.on(ErrorRaised, errors.append)
    session.send("%verbose")
    for _ in range(200):
        await asyncio.sleep(0.01)
        if infos and not session.busy:
            break
    session.send("%nope")
    for _ in range(200):
        await asyncio.sleep(0.01)
        if errors:
            break
    assert infos[0].text == "Verbose mode on."
    assert "Unknown command %nope" in errors[0].message
