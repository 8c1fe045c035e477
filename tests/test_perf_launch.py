"""Launch: what the first frame waits for (benchmarks/bench_e2e.py measures it in a real terminal)."""

from __future__ import annotations

import argparse
import gc

import pytest

from oi_core.errors import OiError
from oi_tui import cli, gc_policy
from oi_tui.app import OiApp
from oi_tui.screens.chat import ChatScreen
from oi_tui.widgets.approval_card import ApprovalCard, PendingApproval
from tests.tui_support import chat, wait_for


@pytest.mark.parametrize("plain", [False, True])
def test_the_tui_launch_collects_no_garbage_before_the_first_frame(monkeypatch, plain) -> None:
    """Collections over start-up's objects cost ~50 ms before the first frame; the app's policy resumes them."""
    seen = {}

    def make_interpreter(args):
        seen["collecting"] = gc.isenabled()
        raise OiError("stop here")

    monkeypatch.setattr(cli, "make_interpreter", make_interpreter)
    try:
        assert cli._run(argparse.Namespace(plain=plain)) == 2
    finally:
        gc.enable()
    assert seen["collecting"] is plain, "the TUI imports its modules with collection paused; plain mode does not"


def test_the_policy_resumes_collection_at_the_first_frame() -> None:
    gc_policy.pause_until_first_frame()
    try:
        assert not gc.isenabled()
        gc_policy.GcPolicy(lambda: 0.0).start()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0, "what start-up built is frozen, not walked by later collections"
    finally:
        gc_policy.restore_defaults()
    assert gc.isenabled() and gc.get_freeze_count() == 0


FIRST_FRAME_PROBE = """
import json, sys
import textual.drivers.linux_driver as linux_driver
from oi_tui import cli
from oi_tui.preload import LATER_MODULES
from oi_tui.screens.chat import ChatScreen

seen = {}
write = linux_driver.LinuxDriver.write

def parts(screen):  # the after-first-frame work (kernel warm-up, gc policy ...) sets the app's gc_policy
    return [len(screen.approval_card.query("*")), len(screen.console.query("#console-ask *")),
            len(screen.queued.query("*")), screen.app.gc_policy is not None]

def first_frame(self, data):  # what reaches the terminal
    screen = self._app.screen_stack[-1] if self._app.screen_stack else None
    if len(data) > 1000 and isinstance(screen, ChatScreen) and "first_frame" not in seen:  # not a mode sequence
        seen["first_frame"] = parts(screen)
        seen["first_frame_shows"] = [text in data for text in ("for something to be done", "ready", "auto-run off")]
        seen["first_frame_modules"] = [name for name in (*LATER_MODULES, "oi_core.local_models") if name in sys.modules]
    ready = "first_frame" in seen and isinstance(screen, ChatScreen) and screen.approval_card.built
    if ready and "built" not in seen:  # the cursor's blink keeps writing
        seen["built"] = parts(screen)
        self._app.exit()
    write(self, data)

linux_driver.LinuxDriver.write = first_frame
cli._run(cli.build_parser().parse_args(sys.argv[2:]))
open(sys.argv[1], "w").write(json.dumps(seen))
"""


def test_hidden_parts_come_after_the_first_frame(llm, tmp_path) -> None:
    """The first frame is the whole chat screen, and the card's 14 hidden widgets (~20 ms), the console's answer
    line and the queue's hint are not styled and laid out for it.

    Run in a real terminal (a pty): there a widget's own call_after_refresh came before the first paint,
    which Textual's headless driver does not show."""
    import fcntl
    import json
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time
    from pathlib import Path

    probe, out = tmp_path / "probe.py", tmp_path / "seen.json"
    probe.write_text(FIRST_FRAME_PROBE)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal of 120x40
    env = dict(os.environ, OI_TUI_THEME="textual-dark", OI_TUI_NO_TERMINAL_GUARD="1",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    try:
        process = subprocess.Popen(
            [sys.executable, str(probe), str(out), "--model", "openai/test-model", "--api_base", llm.url,
             "--api_key", "x"], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        drained = []
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:  # keep the pty drained: writes never block
            if select.select([master], [], [], 0.2)[0]:
                try:
                    drained.append(os.read(master, 65536))
                except OSError:
                    break
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    finally:
        os.close(master)
    assert out.exists(), b"".join(drained)[-2000:].decode(errors="replace")
    seen = json.loads(out.read_text())
    assert seen["first_frame_shows"] == [True, True, True], (
        "the first frame written is not the whole chat screen (its prompt and status line): a first render was "
        "dropped inside Textual's start-up batch and only a partial update reached the terminal")
    assert seen["first_frame"] == [0, 0, 0, False], (
        "hidden parts were styled and laid out, or the after-first-frame work began, before the first frame")
    assert seen["built"] == [14, 2, 0, True], "the card's parts and the console's answer line come right after it"
    assert seen["first_frame_modules"] == [], (
        "modules the first frame does not show were imported before it (~8 ms of a ~300 ms launch): "
        "they belong in oi_tui.preload, loaded in a thread after the first frame")


async def test_a_block_shown_before_the_card_is_built_renders_once_it_is(make_interpreter, monkeypatch) -> None:
    shown_early = []
    original = ChatScreen.on_mount

    def on_mount(self) -> None:
        original(self)
        card = self.query_one(ApprovalCard)
        shown_early.append(card.built)
        card.show(PendingApproval(request_id="r1", language="python", code="print(1)", shown="print(1)"))

    monkeypatch.setattr(ChatScreen, "on_mount", on_mount)
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        card = chat(app).approval_card
        await wait_for(pilot, lambda: card.built)
        await pilot.pause()
        assert shown_early == [False]
        assert not card.has_class("-hidden")
        assert "Run this python code?" in str(card.query_one("#card-question").render())
        assert card.query_one("#card-scan").display == card.pending.can_scan


def test_the_first_frame_does_not_import_markdown_pygments_or_the_turn_machinery() -> None:
    """Textual's Markdown with markdown-it and pygments is ~25 ms, the respond loop with its fence parser and
    the allow-rule parser ~7 ms: they load after the first frame (or when a profile has rules). The lexers of
    the main languages are compiled then too, off the UI thread (the first code block held it ~40-100 ms)."""
    import subprocess
    import sys

    probe = (
        "import sys, oi_tui.app\n"
        "from oi_tui.cli import build_parser, make_interpreter\n"
        "make_interpreter(build_parser().parse_args(['--model', 'openai/x', '--api_key', 'k']))\n"
        "print(sorted(m for m in ('markdown_it', 'pygments', 'rich.syntax', 'textual.widgets._markdown',"
        " 'oi_core.respond', 'oi_core.fences', 'oi_core.safety.allow') if m in sys.modules))\n"
        "from oi_tui.preload import preload_after_first_frame\n"
        "preload_after_first_frame()\n"
        "print('markdown_it' in sys.modules and 'rich.syntax' in sys.modules)\n"
        "from pygments.lexers import find_lexer_class_by_name\n"  # compiled once per class, on first use (~40 ms)
        "print([name for name in ('python', 'bash', 'javascript')"
        " if '_tokens' not in vars(find_lexer_class_by_name(name))])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:3] == ["[]", "True", "[]"], out.stdout + out.stderr



async def test_what_start_up_loads_after_the_first_frame_is_frozen_once_the_warm_up_is_done(
        make_interpreter, monkeypatch) -> None:
    """The kernel client and the reply widgets' modules, left to the collector, made its full passes ~35 ms."""
    import asyncio

    from oi_core.client_local import LocalClient

    warmed = asyncio.Event()
    frozen = []

    async def warmed_up(self) -> None:
        await warmed.wait()

    monkeypatch.setattr(LocalClient, "warmed_up", warmed_up)
    monkeypatch.setattr(gc_policy.GcPolicy, "freeze", lambda self: frozen.append(True))
    app = OiApp(make_interpreter())
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            assert frozen == [], "not before the kernel and the first checkpoint are ready"
            warmed.set()
            await wait_for(pilot, lambda: frozen == [True])
    finally:
        gc_policy.restore_defaults()


async def test_launch_parses_each_css_source_once(make_interpreter, monkeypatch) -> None:
    """Textual parsed the chat screen's CSS three times before the first frame (~15 ms in all)."""
    import textual.css.stylesheet as textual_stylesheet

    parsed: list[str] = []
    original = textual_stylesheet.parse

    def parse(scope, css, read_from, *args, **kwargs):
        parsed.append(str(read_from[0]))
        return original(scope, css, read_from, *args, **kwargs)

    monkeypatch.setattr(textual_stylesheet, "parse", parse)
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chat_css = [source for source in parsed if source.endswith("chat.tcss")]
        assert len(chat_css) == 1, f"chat.tcss parsed {len(chat_css)} times"
        parsed.clear()
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        assert any(source.endswith("chat.tcss") for source in parsed), "a new theme's colours need a new parse"


async def test_the_footer_is_rebuilt_only_when_its_keys_change(make_interpreter, monkeypatch) -> None:
    """Textual rebuilt the footer (every key removed and mounted again) on each focus change or
    refresh_bindings(): three times before the first frame, and on and on while a reply streams."""
    from textual.widgets import Footer

    from oi_tui.widgets.key_footer import KeyFooter

    rebuilds = []
    original = Footer.recompose

    async def recompose(self) -> None:
        rebuilds.append(len(self.screen.active_bindings))
        await original(self)

    monkeypatch.setattr(Footer, "recompose", recompose)
    hide_zoom = []
    check_action = ChatScreen.check_action

    def checked(self, action, parameters):
        if action == "toggle_zoom":
            return not hide_zoom
        return check_action(self, action, parameters)

    monkeypatch.setattr(ChatScreen, "check_action", checked)
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert len(rebuilds) == 1, f"{len(rebuilds)} rebuilds before the app settled"
        screen = chat(app)
        footer = screen.query_one(KeyFooter)
        assert "Zoom" in str([key.render() for key in footer.children])
        for _ in range(10):
            screen.refresh_bindings()
        await pilot.pause(0.3)
        assert len(rebuilds) == 1, "nothing the footer shows changed"
        hide_zoom.append(True)
        for _ in range(10):
            screen.refresh_bindings()
        await wait_for(pilot, lambda: len(rebuilds) == 2)
        await pilot.pause(0.3)
        assert len(rebuilds) == 2, "one rebuild for the burst"
        assert "Zoom" not in str([key.render() for key in footer.children])


async def test_a_question_asked_before_the_answer_line_is_mounted_is_shown(make_interpreter, monkeypatch) -> None:
    """The console's answer line comes after the first frame, unless a program asks before that."""
    original = ChatScreen.on_mount
    asked_before = []

    def on_mount(self) -> None:
        original(self)
        asked_before.append(bool(self.console.query("#console-ask")))
        self.console.ask("r1", "Your name? ", focus=False)

    monkeypatch.setattr(ChatScreen, "on_mount", on_mount)
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        console = chat(app).console
        assert asked_before == [False]
        assert len(console.query("#console-ask")) == 1, "built once, not again after the first frame"
        assert console.asking and "Your name?" in console.prompt_text
        assert not console.query_one("#console-input").has_class("-hidden")


@pytest.mark.parametrize(("size", "expected"), [((120, 40), "-wide"), ((80, 24), "-narrow")])
async def test_the_chat_screen_starts_with_its_breakpoint_class(make_interpreter, monkeypatch, size, expected) -> None:
    """Set by the first resize instead, the class restyled every widget once more before the first frame."""
    classes_at_start = []
    original = ChatScreen.__init__

    def init(self) -> None:
        original(self)
        classes_at_start.append(set(self.classes))

    monkeypatch.setattr(ChatScreen, "__init__", init)
    app = OiApp(make_interpreter())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert classes_at_start == [{expected}]
        assert expected in chat(app).classes


def test_events_share_one_equality_hash_repr_and_immutability_and_stay_dataclasses() -> None:
    """Generated per class, these methods were compiled at every import: ~11 ms of the launch for 28 events."""
    import dataclasses

    from oi_core import client, events

    classes = [cls for module in (events, client) for cls in vars(module).values()
               if isinstance(cls, type) and issubclass(cls, events.Event)]
    assert len(classes) > 20
    for cls in classes:
        assert dataclasses.is_dataclass(cls), cls
        if cls is not events.Event:
            shared = {"__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__"}
            assert not shared & set(vars(cls)), f"{cls.__name__} generates its own"
    first, same, other = events.StatusChanged("idle"), events.StatusChanged("idle"), events.StatusChanged("running")
    assert first == same and first != other and hash(first) == hash(same) and len({first, same, other}) == 2
    assert events.StatusChanged("idle") != events.InfoShown("idle") and first != "idle"
    assert repr(first) == "StatusChanged(status='idle', detail='')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.status = "running"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.added = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del first.detail  # type: ignore[misc]
    assert first.status == "idle" and first.detail == "" and dataclasses.replace(first, detail="x").detail == "x"
    approval = events.ApprovalRequested("r1", "python", "print(1)")  # defaults are set by __init__ as well
    assert approval.risks == () and approval.scan is None and "risks" in vars(approval)


async def test_building_the_answer_line_of_a_console_that_is_gone_does_nothing() -> None:
    """The app calls it just after the first frame, which can come as the app closes (a server refusing it)."""
    from oi_tui.widgets.console import ConsolePane

    console = ConsolePane()
    await console.build()
    assert not console.query("#console-ask")
    card = ApprovalCard()
    await card.build()
    assert not card.built and not card.query("*")


async def test_the_rest_of_start_up_waits_for_a_pause_in_typing(make_interpreter, no_kernel_warm_up, monkeypatch) -> None:
    """Run at the first frame, the kernel's spawn, imports in threads and the card's widgets held a key typed right
    after it ~100 ms. They start once a key has not been pressed for TYPING_QUIET seconds."""
    import oi_tui.app as app_module

    monkeypatch.setattr(app_module, "TYPING_QUIET", 1.0)  # wide margins on a slow machine
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        card = chat(app).approval_card
        for _ in range(8):  # a key every 0.1 s for ~1.2 s
            await pilot.press("x")
            await pilot.pause(0.1)
        assert chat(app).query_one("#prompt").text.startswith("xxxxxxxx")
        assert not no_kernel_warm_up and not card.built, "start-up work ran while the user was typing"
        await wait_for(pilot, lambda: bool(no_kernel_warm_up) and card.built)


async def test_a_sent_message_mounts_the_card_at_once(make_interpreter, no_kernel_warm_up, monkeypatch) -> None:
    """The model's answer may be code to approve: its card's parts do not wait for a pause in typing."""
    import oi_tui.app as app_module

    monkeypatch.setattr(app_module, "TYPING_QUIET", 60.0)  # no pause comes in this test
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        card = chat(app).approval_card
        await pilot.press("h", "i")
        await pilot.pause(0.3)
        assert not card.built
        await pilot.press("enter")
        await wait_for(pilot, lambda: card.built)
        assert not no_kernel_warm_up


async def test_the_rest_of_start_up_never_runs_on_a_closing_app(make_interpreter, no_kernel_warm_up, monkeypatch) -> None:
    """Its timer can fire while the app shuts down, its screens already emptied (the full suite caught a
    NoMatches for the approval card): nothing is mounted and no kernel started then."""
    import oi_tui.app as app_module

    monkeypatch.setattr(app_module, "TYPING_QUIET", 0.002)  # the timer fires all through the shutdown
    monkeypatch.setattr(OiApp, "typing", lambda self: self.is_running)  # the pause comes as the app closes
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert not chat(app).approval_card.built
    assert app.return_code in (None, 0), "the app failed while closing"
    assert not no_kernel_warm_up, "a kernel was started for an app that was closing"
