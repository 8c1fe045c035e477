"""The full-screen app driving a core on a server over loopback (Pilot): what `oi-tui --connect` does."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from oi_core.client_remote import RemoteClient
from oi_tui.app import OiApp
from oi_tui.screens.navigator import NavigatorScreen
from oi_tui.widgets.chat_messages import AssistantMessage
from oi_tui.widgets.code_block import CodeBlock
from oi_tui.widgets.status_line import StatusLine
from tests.llm_server import Reply
from tests.server_support import ServerThread
from tests.tui_support import chat, send, wait_for, wait_for_approval

pytestmark = pytest.mark.usefixtures("pinned_look")

SIZE = (120, 35)
KEY = "connect-tui-key-01"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def server_session(served: ServerThread):
    sessions = list(served.server.sessions.values())
    assert len(sessions) == 1
    return sessions[0]


def console_text(app: OiApp) -> str:
    return "\n".join(str(line) for line in chat(app).console.log_widget.lines) \
        if hasattr(chat(app).console, "log_widget") else ""


async def connected(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.client.session_id is not None and app.client.state.model, timeout=30)
    await wait_for(pilot, lambda: app.query_one(StatusLine).model == app.client.state.model)


async def test_connected_app_streams_approves_edits_and_skips_on_the_server(make_interpreter, llm, tmp_path):
    marker = tmp_path / "made-on-server"
    edited = tmp_path / "edited-on-server"
    skipped = tmp_path / "never-made"
    llm.queue(Reply(text=f"Making it:\n\n```shell\ntouch {marker}\n```\n", chunk_size=4), "Made it.")
    llm.queue(Reply(text=f"```shell\ntouch {tmp_path / 'model-version'}\n```\n"), "Edited one ran.")
    llm.queue(Reply(text=f"```shell\ntouch {skipped}\n```\n"), "Skipped, fine.")
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, KEY))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            assert app.interpreter is None
            assert app.query_one(StatusLine).model == "openai/test-model"  # the server's settings
            # run exactly what is shown
            await send(pilot, "make the file")
            await wait_for_approval(pilot)
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: chat(app).status == "idle" and len(app.query(AssistantMessage)) == 2)
            assert marker.exists()
            assert app.query(AssistantMessage).last().text == "Made it."
            # edit, then run the edited code
            await send(pilot, "again")
            await wait_for_approval(pilot)
            await pilot.press("ctrl+g")
            await pilot.press("ctrl+a", "ctrl+k", *f"touch {edited}")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: chat(app).status == "idle" and edited.exists())
            assert not (tmp_path / "model-version").exists()
            code = [m for m in server_session(served).interpreter.messages if m.get("type") == "code"][-1]
            assert code["edited"] is True and code["content"] == f"touch {edited}"
            # don't run
            await send(pilot, "one more")
            await wait_for_approval(pilot)
            await pilot.press("escape")
            await wait_for(pilot, lambda: chat(app).status == "idle" and chat(app).pending is None)
            assert not skipped.exists()
            assert app.query(CodeBlock).last().state == "not_run"
            assert app.client.state.messages == server_session(served).interpreter.messages


async def test_input_stop_image_and_cost_through_the_server(make_interpreter, llm, tmp_path):
    template = make_interpreter()
    template.llm.supports_vision = True
    image = tmp_path / "shot.png"
    image.write_bytes(PNG)
    llm.queue(Reply(text="```shell\nread -p 'Name? ' n; echo hi-$n\n```\n"), "Greeted.")
    llm.queue(Reply(text="```shell\necho started; sleep 60\n```\n"))
    llm.queue("I see a tiny image.")
    with ServerThread(template, api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, KEY))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "ask my name")
            await wait_for_approval(pilot)
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: chat(app).console.asking, timeout=30)
            await pilot.press(*"Ada", "enter")
            await wait_for(pilot, lambda: chat(app).status == "idle", timeout=30)
            output = [m for m in server_session(served).interpreter.messages if m.get("type") == "console"][-1]
            assert "hi-Ada" in output["content"]
            await send(pilot, "wait a minute")
            await wait_for_approval(pilot)
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: chat(app).status == "running", timeout=30)
            await pilot.pause(1.0)
            await pilot.press("escape")  # stop
            await wait_for(pilot, lambda: chat(app).status == "idle", timeout=30)
            assert app.query(CodeBlock).last().state == "stopped"
            await send(pilot, f"what is in {image}")
            await wait_for(pilot, lambda: chat(app).status == "idle" and app.query(AssistantMessage).last().text
                           == "I see a tiny image.", timeout=30)
            assert app.query_one(StatusLine).cost == pytest.approx(server_session(served).interpreter.total_cost)
    sent = json.dumps(llm.last_messages())
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in sent


async def test_navigator_and_profiles_are_the_servers(make_interpreter, llm, tmp_path):
    from oi_core.profiles import profile_dir

    (profile_dir() / "remote-fast.yaml").write_text("llm:\n  model: openai/remote-fast\n")
    llm.queue("Remembered.")
    with ServerThread(make_interpreter(conversation_history=True), api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, KEY))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "remember the otters")
            await wait_for(pilot, lambda: chat(app).status == "idle" and app.query(AssistantMessage))
            first = app.client.state.conversation_id
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: not app.query(AssistantMessage) and app.client.state.conversation_id != first)
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: isinstance(app.screen, NavigatorScreen))
            navigator = app.screen
            await wait_for(pilot, lambda: any(i.id == first for i in navigator.all_conversations), timeout=30)
            assert "on ws://" in str(navigator.store.path)
            while navigator.selected is None or navigator.selected.id != first:
                await pilot.press("down")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.client.state.conversation_id == first and app.query(AssistantMessage))
            assert app.query(AssistantMessage).last().text == "Remembered."
            app.switch_profile("remote-fast")
            await wait_for(pilot, lambda: app.query_one(StatusLine).model == "openai/remote-fast")
            assert server_session(served).interpreter.llm.model == "openai/remote-fast"
            assert app.query_one(StatusLine).profile == "remote-fast"


async def test_a_dropped_connection_is_shown_retried_and_loses_nothing_typed(make_interpreter, llm, monkeypatch):
    monkeypatch.setattr(OiApp, "_start_gc_policy", lambda self: None)
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, KEY, retry_max=1.0))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            session = server_session(served)
            await asyncio.to_thread(served.stop)  # the server goes away entirely
            await wait_for(pilot, lambda: "offline" in app.query_one(StatusLine).state, timeout=30)
            llm.queue("Back and answered.")
            await send(pilot, "typed while the server was down")
            await pilot.pause(1.0)
            restarted = ServerThread(make_interpreter(), api_key=KEY, port=served.server.port)
            await asyncio.to_thread(restarted.__enter__)
            try:
                await wait_for(pilot, lambda: app.query(AssistantMessage)
                               and app.query(AssistantMessage).last().text == "Back and answered.", timeout=60)
                await wait_for(pilot, lambda: app.query_one(StatusLine).state == "idle")  # not "offline" any more
                fresh = server_session(restarted)
                assert fresh is not session
                users = [m["content"] for m in fresh.interpreter.messages if m["role"] == "user"]
                assert users == ["typed while the server was down"]
            finally:
                await app.close_session()  # the client leaves before the server stops (never block its loop)
                await asyncio.to_thread(restarted.stop)


async def test_wrong_key_leaves_with_one_sentence(make_interpreter):
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, "not-the-key-00"))
        said: list[str] = []
        leave = app.exit
        app.exit = lambda *args, **kwargs: (said.append(str(kwargs.get("message"))), leave(*args, **kwargs))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.return_code == 1, timeout=30)
    assert app.return_code == 1
    assert len(said) == 1 and "refused the connection" in said[0] and "Traceback" not in said[0]


async def test_changes_diff_and_undo_of_a_run_on_the_server(make_interpreter, llm, tmp_path, monkeypatch):
    from oi_tui.screens.confirm import ConfirmScreen
    from oi_tui.screens.diff import DiffScreen
    from oi_tui.widgets.run_changes import RunChanges
    from textual.widgets import OptionList

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)  # the server's sessions run here (same process)
    (project / "notes.txt").write_text("first line\n")
    llm.queue(Reply(text="```shell\necho made > made.txt && echo more >> notes.txt\n```\n"), "Done.")
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, KEY))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "change my files")
            await wait_for_approval(pilot)
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.query(RunChanges) and not app.busy, timeout=60)
            assert (project / "made.txt").exists()
            await pilot.press("f4")  # what the run changed, read from the server
            await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
            diff = app.screen
            await wait_for(pilot, lambda: diff.query_one(OptionList).option_count == 2, timeout=30)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, DiffScreen))
            await pilot.press("f8")  # undo, on the server's files
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "made.txt" in app.screen.question
            await pilot.pause(0.5)  # the dialog ignores keys typed in its first moment
            await pilot.press("y")
            await wait_for(pilot, lambda: not (project / "made.txt").exists(), timeout=30)
            assert (project / "notes.txt").read_text() == "first line\n"


async def test_the_app_connects_while_the_user_types(make_interpreter, monkeypatch):
    """The connection starts with the first frame; the rest of start-up may wait for a pause in typing, it does not."""
    import oi_tui.app as app_module

    monkeypatch.setattr(app_module, "TYPING_QUIET", 60.0)  # no pause comes in this test
    with ServerThread(make_interpreter(), api_key=KEY) as served:
        app = OiApp(client=RemoteClient(served.ws_url, KEY))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("h", "i")
            await connected(pilot)
