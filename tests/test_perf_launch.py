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


async def test_the_approval_card_parts_come_after_the_first_frame(make_interpreter, monkeypatch) -> None:
    """The card's 14 hidden widgets are not styled and laid out for the first frame."""
    parts_when_mounted = []
    original = ChatScreen.on_mount

    def on_mount(self) -> None:
        parts_when_mounted.append(len(self.query_one(ApprovalCard).query("*")))
        original(self)

    monkeypatch.setattr(ChatScreen, "on_mount", on_mount)
    app = OiApp(make_interpreter())
    async with app.run_test(size=(120, 40)) as pilot:
        card = chat(app).approval_card
        await wait_for(pilot, lambda: card.built)
        assert parts_when_mounted == [0]
        assert len(card.query("*")) == 14
        assert card.query_one("#card-run").display and card.has_class("-hidden")


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


def test_the_first_frame_does_not_import_markdown_or_pygments() -> None:
    """Textual's Markdown with markdown-it and pygments is ~25 ms: it loads after the first frame."""
    import subprocess
    import sys

    probe = (
        "import sys, oi_tui.app\n"
        "print(sorted(m for m in ('markdown_it', 'pygments', 'rich.syntax', 'textual.widgets._markdown')"
        " if m in sys.modules))\n"
        "from oi_tui.widgets.chat_messages import preload_reply_widgets\n"
        "preload_reply_widgets()\n"
        "print('markdown_it' in sys.modules and 'rich.syntax' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"], out.stdout + out.stderr



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
