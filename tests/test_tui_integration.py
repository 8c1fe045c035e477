"""Pilot tests of the app-level actions: conversations, profiles, new/export/auto-run/stop, inline images, themes.

Runs against the scripted LLM server (tests/llm_server.py); snapshots live under snapshots/test_tui_integration/.
"""

from __future__ import annotations

import time
from pathlib import Path

import platformdirs
import pytest
from textual.command import CommandPalette
from textual.widgets import Input, TextArea

from oi_core.conversations import ConversationStore
from oi_tui.app import OiApp
from oi_tui.screens.navigator import NavigatorScreen
from oi_tui.widgets.chat_messages import AssistantMessage, NoticeMessage, UserMessage
from oi_tui.widgets.transcript import EarlierMessages
from oi_tui.widgets.code_block import CodeBlock
from oi_tui.widgets.status_line import StatusLine
from tests.tui_support import chat, on_chat, run_one_decline_the_next, send, wait_for


pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 35)


def user_texts(app: OiApp) -> list[str]:
    return [m.text for m in chat(app).query(UserMessage)]


def reply_texts(app: OiApp) -> list[str]:
    return [m.text for m in chat(app).query(AssistantMessage)]


def conversation(*pairs: tuple[str, str]) -> list[dict]:
    messages = []
    for question, answer in pairs:
        messages.append({"role": "user", "type": "message", "content": question})
        messages.append({"role": "assistant", "type": "message", "content": answer})
    return messages


async def open_navigator(pilot) -> NavigatorScreen:
    app = pilot.app
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(app.screen, NavigatorScreen))
    navigator = app.screen
    await wait_for(pilot, lambda: navigator.conversation_list.option_count == len(navigator.all_conversations) > 0)
    return navigator


async def select_in_navigator(pilot, navigator: NavigatorScreen, conversation_id: str) -> None:
    await pilot.press("down")  # from the search box into the list
    for _ in range(navigator.conversation_list.option_count + 1):
        if navigator.selected is not None and navigator.selected.id == conversation_id:
            return
        await pilot.press("down")
    raise AssertionError(f"{conversation_id} not found in the navigator")


# ---------------------------------------------------------------- conversations


async def test_resume_from_navigator_then_continue(make_interpreter, llm):
    interp = make_interpreter()
    store = ConversationStore(interp.conversation_history_path)
    first = conversation(("What is 2+2?", "It is 4."), ("And 3+3?", "It is 6."))
    second = conversation(("Name a colour", "Teal."))
    store.save("math-chat", first)
    store.save("colour-chat", second)
    llm.queue("It is 8.")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        navigator = await open_navigator(pilot)
        assert navigator.store.path == Path(interp.conversation_history_path)
        assert {info.id for info in navigator.all_conversations} == {"math-chat", "colour-chat"}
        await select_in_navigator(pilot, navigator, "math-chat")
        await pilot.press("enter")
        await wait_for(pilot, lambda: on_chat(app) and user_texts(app) == ["What is 2+2?", "And 3+3?"])
        assert reply_texts(app) == ["It is 4.", "It is 6."]
        assert interp.messages == first
        assert interp.conversation_id == "math-chat"

        await wait_for(pilot, lambda: chat(app).query_one("#prompt").has_focus)
        await send(pilot, "And 4+4?")
        await wait_for(pilot, lambda: chat(app).status == "idle" and interp.messages[-1].get("content") == "It is 8.")
        sent = [m.get("content") for m in llm.requests[-1]["messages"]]
        for text in ("What is 2+2?", "It is 4.", "And 3+3?", "It is 6.", "And 4+4?"):
            assert any(isinstance(c, str) and text in c for c in sent), (text, sent)
        assert user_texts(app) == ["What is 2+2?", "And 3+3?", "And 4+4?"]


async def test_start_in_conversations_and_missing_file(make_interpreter, llm):
    interp = make_interpreter()
    store = ConversationStore(interp.conversation_history_path)
    store.save("only-one", conversation(("hello", "hi")))
    app = OiApp(interp, start_in_conversations=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, NavigatorScreen) and app.screen.query("#navigator-list"))
        navigator = app.screen
        await wait_for(pilot, lambda: navigator.conversation_list.option_count == 1)
        (store.path / "only-one.json").unlink()  # gone between the listing and the pick
        await pilot.press("enter")
        await wait_for(pilot, lambda: on_chat(app) and any(n.severity == "error" for n in app._notifications))
        note = next(n for n in app._notifications if n.severity == "error")
        assert note.title == "Conversation" and "only-one" in note.message
        assert interp.messages == [] and interp.conversation_id != "only-one"
        assert app.is_running
        await pilot.press("ctrl+p")  # the palette entry opens the same navigator
        await wait_for(pilot, lambda: CommandPalette.is_open(app))
        await pilot.press(*"Conversations")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NavigatorScreen))
        assert app.screen.store.path == store.path
        await pilot.press("escape")
        await wait_for(pilot, lambda: on_chat(app))
        assert interp.messages == []


async def test_autosave_during_tui_turn(make_interpreter, llm):
    llm.queue("Saved reply.")
    interp = make_interpreter(conversation_history=True)
    store = ConversationStore.for_interpreter(interp)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "please remember this")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)

        def saved() -> bool:
            return store.exists(interp.conversation_id) and store.load(interp.conversation_id) == interp.messages

        await wait_for(pilot, saved)
        assert [m["content"] for m in store.load(interp.conversation_id)] == ["please remember this", "Saved reply."]
        assert [info.id for info in store.list()] == [interp.conversation_id]


async def test_resume_500_messages_from_navigator_is_interactive_within_1s(make_interpreter, llm):
    interp = make_interpreter()
    store = ConversationStore(interp.conversation_history_path)
    pairs = [(f"question {i}", f"## Answer {i}\n\n- a\n- b\n\n`x = {i}`") for i in range(250)]
    store.save("long-chat", conversation(*pairs))
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await open_navigator(pilot)
        prompt = chat(app).query_one("#prompt", TextArea)
        started = time.monotonic()
        await pilot.press("enter")
        await wait_for(pilot, lambda: on_chat(app) and app.query(EarlierMessages) and prompt.has_focus, step=0.01)
        await pilot.press("z")
        await wait_for(pilot, lambda: prompt.text == "z", step=0.01)
        elapsed = time.monotonic() - started
        print(f"resume of 500 messages: interactive after {elapsed:.3f}s")
        assert elapsed < 1.0, elapsed
        assert len(interp.messages) == 500 and interp.conversation_id == "long-chat"
        assert user_texts(app)[-1] == "question 249"
        assert len(app.query(AssistantMessage)) <= 15


# ---------------------------------------------------------------- profiles


@pytest.fixture
def switched_profile(llm):
    folder = platformdirs.user_config_path("oi-tui") / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "switched.yaml"
    path.write_text(
        "llm:\n"
        "  model: openai/switched-model\n"
        f"  api_base: {llm.url}\n"
        "  api_key: x\n"
        "  supports_functions: false\n",
        encoding="utf-8",
    )
    yield path
    path.unlink(missing_ok=True)


async def test_switch_profile_from_menu_keeps_conversation(make_interpreter, llm, switched_profile):
    llm.queue("First answer.", "Second answer.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        assert llm.requests[-1]["model"] == "test-model"

        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: CommandPalette.is_open(app))
        await pilot.press(*"Switch profile")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: CommandPalette.is_open(app) and "profile" in app.screen.query_one(Input).placeholder)
        await pilot.press(*"switched")
        await pilot.pause(0.3)
        await pilot.press("enter")
        status = chat(app).query_one(StatusLine)
        await wait_for(pilot, lambda: on_chat(app) and status.model == "openai/switched-model")
        assert status.profile == "switched" and interp.profile == "switched"
        rendered = str(status.render())
        assert "openai/switched-model" in rendered and "profile switched" in rendered
        assert [m["content"] for m in interp.messages] == ["first", "First answer."]
        assert user_texts(app) == ["first"]

        await send(pilot, "second")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 4)
        request = llm.requests[-1]
        assert request["model"] == "switched-model"
        assert [m.get("content") for m in request["messages"] if m["role"] != "system"][:2] == ["first", "First answer."]


# ---------------------------------------------------------------- new, export, auto-run, stop


async def test_new_conversation_clears_everything(make_interpreter, llm):
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        old_id = interp.conversation_id
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not chat(app).transcript.children)
        assert interp.messages == [] and interp.conversation_id != old_id
        assert chat(app).query_one("#prompt").has_focus
        await send(pilot, "fresh start")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        assert user_texts(app) == ["fresh start"]
        assert [m.get("content") for m in llm.requests[-1]["messages"] if m["role"] == "user"] == ["fresh start"]


async def test_export_markdown(make_interpreter, llm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    llm.queue("Exported **answer**.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.action_export_markdown()
        assert list(tmp_path.glob("*.md")) == []  # nothing to export yet
        await send(pilot, "export me")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        app.action_export_markdown()
        path = tmp_path / f"oi-conversation-{interp.conversation_id}.md"
        await wait_for(pilot, path.is_file)  # written off the UI thread
        text = path.read_text(encoding="utf-8")
        assert "export me" in text and "Exported **answer**." in text
        await wait_for(pilot, lambda: any(n.title == "Exported" for n in app._notifications))
        assert any(n.title == "Exported" and str(path) in n.message for n in app._notifications)


async def test_toggle_auto_run_flips_setting_and_status(make_interpreter, llm):
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        status = chat(app).query_one(StatusLine)
        assert interp.auto_run is False and status.auto_run is False
        assert "auto-run off" in str(status.render())
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: status.auto_run is True)
        assert interp.auto_run is True and "auto-run ON" in str(status.render())
        app.action_toggle_auto_run()
        await wait_for(pilot, lambda: status.auto_run is False)
        assert interp.auto_run is False and "auto-run off" in str(status.render())


# ---------------------------------------------------------------- inline images


IMAGE_CODE = (
    "```python\n"
    "from PIL import Image\n"
    "from IPython.display import display\n"
    'display(Image.new("RGB", (40, 20), "red"))\n'
    "```\n"
)


def test_inline_image_from_real_run(snap_compare, make_interpreter, llm):
    llm.queue("Here is a red rectangle:\n\n" + IMAGE_CODE)
    llm.queue("That was a red rectangle.")
    interp = make_interpreter(auto_run=True)
    app = OiApp(interp)

    async def run_before(pilot) -> None:
        app.animation_level = "none"
        for widget in app.query(TextArea):
            widget.cursor_blink = False
        # the start-up notice (a worker) comes first in the conversation however slowly it is found
        await wait_for(pilot, lambda: any("Auto-run is on" in notice.text for notice in app.query(NoticeMessage)))
        await send(pilot, "draw")
        await wait_for(pilot, lambda: app.query(".code-image"), timeout=60)
        await wait_for(pilot, lambda: chat(app).status == "idle"
                       and interp.messages[-1].get("content") == "That was a red rectangle.", timeout=30)
        await wait_for(pilot, lambda: not any(m.streaming for m in app.query(AssistantMessage)))
        image = app.query_one(".code-image")
        assert image.parent is app.query_one(CodeBlock)
        assert type(image).__name__ == "UnicodeImage"
        images = [m for m in interp.messages if m.get("type") == "image"]
        assert images and images[0]["role"] == "computer" and str(images[0]["format"]).startswith("base64")
        for _ in range(5):
            await pilot.pause(0.05)
        chat(app).flush_buffers()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# ---------------------------------------------------------------- themes and keymap


async def test_pinned_theme_can_be_one_of_ours(make_interpreter, llm, monkeypatch):
    from oi_tui.themes import load_themes

    themes, _ = load_themes()
    assert themes, "oi-tui ships themes"
    ours = themes[0].name
    monkeypatch.setenv("OI_TUI_THEME", ours)
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == ours
        assert {theme.name for theme in themes} <= set(app.available_themes)
        assert not [n for n in app._notifications if n.title == "Themes"]


async def test_keymap_typos_are_reported(make_interpreter, llm):
    from oi_tui.keymap import keymap_path

    path = keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("new_conversation: f9\nnew_convresation: f10\napproval.run: x\n", encoding="utf-8")
    try:
        app = OiApp(make_interpreter())
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.pause()
            problems = [n.message for n in app._notifications if n.title == "Keymap"]
            assert len(problems) == 1 and "new_convresation" in problems[0], problems
            assert {"quit", "new_conversation", "open_conversations", "stop", "stop_alt",
                    "toggle_auto_run", "approval.run"} <= app.binding_ids()
            await send(pilot, "hi")
            await wait_for(pilot, lambda: chat(app).status == "idle" and len(app.interpreter.messages) == 2)
            await pilot.press("f9")  # TextArea (the prompt) owns f6 and f7
            await wait_for(pilot, lambda: app.interpreter.messages == [])
    finally:
        path.unlink(missing_ok=True)


async def test_edit_profile_opens_the_editor_then_applies_the_saved_file(make_interpreter, llm, switched_profile,
                                                                          monkeypatch, tmp_path):
    import contextlib
    import sys

    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('switched-model', 'edited-model'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    llm.queue("ok")
    interp = make_interpreter()
    interp.profile = "switched"
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "suspend", contextlib.nullcontext)  # headless: no terminal to hand over
        await app.run_action("edit_profile")
        status = chat(app).query_one(StatusLine)
        await wait_for(pilot, lambda: status.model == "openai/edited-model")
        assert "edited-model" in switched_profile.read_text()
        await send(pilot, "hi")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        assert llm.requests[-1]["model"] == "edited-model"


def test_editing_a_shipped_profile_copies_it_to_the_user_folder() -> None:
    from oi_core.profiles import editable_profile, user_profile_dir

    target = editable_profile("fast")
    try:
        assert target.parent == user_profile_dir()
        assert "gpt-4o-mini" in target.read_text()
    finally:
        target.unlink()


async def test_code_editor_colours_follow_the_app_theme(make_interpreter):
    from oi_tui.themes import text_area_theme_for
    from oi_tui.widgets.code_editor import CodeEditor

    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        editor = app.screen.query_one(CodeEditor)
        seen = {}
        for name in ("oi-night", "oi-paper"):
            app.theme = name
            await pilot.pause()
            assert editor.theme == text_area_theme_for(app.current_theme).name
            seen[name] = editor._theme.base_style.bgcolor
        assert seen["oi-night"] != seen["oi-paper"], "dark and light themes give the editor different colours"


async def test_editing_puts_the_cursor_at_the_end_of_the_code(make_interpreter, llm):
    llm.queue("```shell\necho one\necho two\n```", "ok")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: chat(app).pending is not None)
        await pilot.press("ctrl+g")
        await pilot.press(*" # mine")
        assert chat(app).editor.text == "echo one\necho two # mine"


async def test_first_run_without_a_key_opens_setup_and_the_choice_is_used(make_interpreter, llm, monkeypatch):
    from oi_tui.screens.setup import SetupResult, SetupScreen

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    interp = make_interpreter()
    interp.llm.model, interp.llm.api_base, interp.llm.api_key = "gpt-4o", None, None
    llm.queue("Hello from the local server.")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#setup-model"))
        await pilot.pause()
        app.screen.dismiss(SetupResult(model="openai/local-model", api_base=llm.url, api_key=None, provider="custom"))
        await wait_for(pilot, lambda: on_chat(app) and interp.llm.model == "openai/local-model")
        await send(pilot, "hi")
        await wait_for(pilot, lambda: chat(app).status == "idle" and len(interp.messages) == 2)
        assert llm.requests[-1]["model"] == "local-model"


async def test_zoom_gives_the_conversation_the_screen_and_editing_brings_the_editor_back(make_interpreter, llm):
    llm.queue("```shell\necho zoomed\n```", "ok")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=(80, 24)) as pilot:
        workbench = chat(app).query_one("#workbench")
        transcript = chat(app).transcript
        narrow_height = transcript.size.height
        await pilot.press("f2")
        await pilot.pause()
        assert not workbench.display and transcript.size.height > narrow_height
        await send(pilot, "go")
        await wait_for(pilot, lambda: chat(app).pending is not None)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert workbench.display and chat(app).editor.has_focus


async def test_a_resumed_conversation_labels_blocks_that_never_ran_not_run(make_interpreter, llm):
    """A declined block came back from a resume labelled "ran" with the note that it was not run."""
    interp = make_interpreter()
    llm.queue("```shell\necho first-block\n```\n", "```shell\necho second-block\n```\n")
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_one_decline_the_next(pilot, "two blocks")
        live = [block.state for block in chat(app).transcript.query(CodeBlock)]
        saved = [dict(message) for message in interp.messages]
        await chat(app).transcript.show_messages(saved)
        await pilot.pause()
        resumed = [block.state for block in chat(app).transcript.query(CodeBlock)]
    assert live == ["done", "not_run"]
    assert resumed == live


async def test_a_resumed_conversation_labels_a_stopped_run_stopped(make_interpreter, llm):
    """A run the user stopped came back from a resume labelled "ran"."""
    messages = [
        {"role": "user", "type": "message", "content": "count slowly"},
        {"role": "assistant", "type": "code", "format": "python", "content": "import time\nfor i in range(30): print(i); time.sleep(1)"},
        {"role": "computer", "type": "console", "format": "output", "content": "0\n1\nThe user stopped this run.",
         "status": "stopped"},
        {"role": "assistant", "type": "code", "format": "python", "content": "1 / 0"},
        {"role": "computer", "type": "console", "format": "output", "content": "ZeroDivisionError", "status": "error"},
    ]
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        await chat(app).transcript.show_messages(messages)
        await pilot.pause()
        assert [block.state for block in chat(app).transcript.query(CodeBlock)] == ["stopped", "failed"]
