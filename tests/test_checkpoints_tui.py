"""Checkpoints in the TUI (Pilot, real app, scripted server, real bash): the line under each run, the diff view,
undo from the key and the block's menu with the one confirm dialog, rewind from the palette, replay progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList, Static

from oi_tui.app import OiApp
from oi_tui.screens.confirm import ConfirmScreen
from oi_tui.screens.diff import DiffScreen
from oi_tui.widgets.prompt_input import PromptInput
from oi_tui.widgets.run_changes import ReplayProgress, RunChanges
from oi_tui.widgets.transcript import Transcript
from tests.tui_support import chat, send, wait_for, wait_for_approval

pytestmark = pytest.mark.usefixtures("pinned_look", "no_kernel_warm_up")

SIZE = (120, 40)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (root / "notes.txt").write_text("first line\nsecond line\n")
    return root.resolve()


def shell_block(code: str) -> str:
    return f"Doing it:\n\n```shell\n{code}\n```\n"


async def run_turn(pilot, text: str) -> None:
    """Send a message, approve its one block with ctrl+r, and wait for the turn to end."""
    app = pilot.app
    runs_before = len(app.query(RunChanges))
    await send(pilot, text)
    await wait_for_approval(pilot)
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: len(app.query(RunChanges)) > runs_before and not app.busy, timeout=60)


async def say_yes(pilot) -> None:
    """Answer the confirm dialog with "y" once it accepts keys (it ignores keys typed in its first moment)."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
    await pilot.pause(0.5)
    await pilot.press("y")


async def reopen(pilot, interp) -> None:
    """Save, start a new conversation, then resume the one just left (its transcript is built from disk)."""
    app = pilot.app
    conversation = interp.conversation_id
    await interp.flush_autosave()
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: not app.query(RunChanges))
    app.resume_conversation(conversation)
    await wait_for(pilot, lambda: len(app.query(RunChanges)) == 1)


def line_text(line: RunChanges) -> str:
    return str(line.render())


async def test_each_run_shows_its_changes_and_the_diff_view_shows_them(project, make_interpreter, llm):
    llm.queue(shell_block("echo 'third line' >> notes.txt && printf 'a\\nb\\n' > fresh.txt"), "Done.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "edit my notes")
        line = app.query_one(RunChanges)
        assert "+1 ~1 -0 files" in line_text(line) and "+3 −0 lines" in line_text(line)
        transcript = app.query_one(Transcript)
        assert transcript.children.index(line) == transcript.children.index(app.query("CodeBlock").last()) + 1

        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one(OptionList).option_count == 2)
        files = [str(screen.query_one(OptionList).get_option_at_index(i).prompt) for i in range(2)]
        assert any("+ fresh.txt" in f for f in files) and any("~ notes.txt" in f for f in files)
        body = screen.query_one("#diff-text", Static)
        await pilot.press("down" if "fresh" in files[0] else "up")
        await wait_for(pilot, lambda: "+third line" in str(body.render()))
        assert "installed packages" in str(screen.query_one("#diff-limits").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DiffScreen))


async def test_undo_key_asks_with_the_limits_then_puts_the_files_back(project, make_interpreter, llm, tmp_path):
    outside = tmp_path / "outside.txt"
    llm.queue(shell_block(f"rm notes.txt && echo new > made.txt && echo x > {outside} && echo m > '[b]m.txt'"),
              "Done.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "change things")
        assert not (project / "notes.txt").exists()
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question
        assert "Undo the last run" in question and "made.txt" in question and "notes.txt" in question
        assert "databases, remote systems or installed packages" in question
        assert str(outside) in question  # seen to touch a path outside the working directory
        shown = str(app.screen.query_one("#confirm-question").render())
        assert "[b]m.txt" in shown  # a file name is never read as markup
        await pilot.press("n")
        await pilot.pause(0.3)
        assert (project / "made.txt").exists()  # "Keep" changed nothing

        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await say_yes(pilot)
        await wait_for(pilot, lambda: (project / "notes.txt").exists() and not (project / "made.txt").exists())
        assert (project / "notes.txt").read_text() == "first line\nsecond line\n"
        line = app.query_one(RunChanges)
        await wait_for(pilot, lambda: "undone" in line_text(line))
        notices = " ".join(str(n.render()) for n in app.query("NoticeMessage"))
        assert "Undid the last run" in notices and "not undone" in notices.lower()
        assert outside.exists()
        await wait_for(pilot, lambda: app.check_action("undo_last_run", ()) is False)  # nothing left to undo


async def test_block_menu_offers_changes_undo_and_rewind(project, make_interpreter, llm):
    llm.queue(shell_block("echo one > one.txt"), "One.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "make one")
        line = app.query_one(RunChanges)
        await pilot.click(RunChanges)
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.pause(0.5)
        options = app.screen.query_one(OptionList)
        titles = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("Show what this run changed" in t for t in titles)
        assert any("Undo this run" in t for t in titles)
        assert any("Rewind to before this run" in t for t in titles)
        await pilot.press(*"undo this")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await say_yes(pilot)
        await wait_for(pilot, lambda: not (project / "one.txt").exists())
        assert line.index == [i for i, m in enumerate(interp.messages) if m.get("type") == "code"][0]


async def test_rewind_from_the_palette_restores_files_keeps_the_conversation_and_refills_the_prompt(
        project, make_interpreter, llm):
    llm.queue(shell_block("echo a > a.txt"), "Made a.")
    llm.queue(shell_block("echo b > b.txt && echo changed >> notes.txt"), "Made b.")
    interp = make_interpreter(conversation_history=True)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "make a")
        await run_turn(pilot, "now make b")
        assert (project / "b.txt").exists()
        original = interp.conversation_id
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"rewind to")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette)
                       and app.screen.query_one(OptionList).option_count >= 4)
        await pilot.press(*"now make b")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Rewind to before your message “now make b”" in app.screen.question
        assert "1 later run(s)" in app.screen.question
        await say_yes(pilot)
        await wait_for(pilot, lambda: not (project / "b.txt").exists())
        await wait_for(pilot, lambda: chat(app).query_one(PromptInput).text == "now make b")
        assert (project / "a.txt").exists() and (project / "notes.txt").read_text() == "first line\nsecond line\n"
        assert [m.get("content") for m in interp.messages if m.get("role") == "user"] == ["make a"]
        assert interp.conversation_id != original
        await wait_for(pilot, lambda: len(app.query(RunChanges)) == 1)  # the kept run still shows its line
        from oi_core.conversations import store_for

        await interp.flush_autosave()
        assert any(m.get("content") == "now make b" for m in store_for(interp).load(original))


async def test_a_runs_line_goes_under_its_own_block_when_the_next_one_came_first(
        project, make_interpreter, llm, monkeypatch):
    """The record is worked out beside the model's next request: when the next block is on screen first, the
    line still goes under the block that ran (under the new one it read as if that one had changed the files)."""
    import threading

    from oi_core import checkpoint_changes
    from oi_tui.widgets.code_block import CodeBlock

    next_block_shown = threading.Event()
    real = checkpoint_changes.changes_between

    def after_the_next_block(*args, **kwargs):  # in the core's worker thread
        next_block_shown.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint_changes, "changes_between", after_the_next_block)
    llm.queue(shell_block("echo more >> notes.txt"), shell_block("echo second"), "Done.")
    app = OiApp(make_interpreter())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "two steps")
        await wait_for_approval(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(app.query(CodeBlock)) == 2 and app.query(CodeBlock).last().state == "pending",
                       timeout=30)
        next_block_shown.set()
        await wait_for(pilot, lambda: bool(app.query(RunChanges)), timeout=30)
        transcript = app.query_one(Transcript)
        first, second = app.query(CodeBlock)
        line = app.query_one(RunChanges)
        assert "~1" in line_text(line)
        assert transcript.children.index(line) == transcript.children.index(first) + 1, "under the block that ran"
        assert transcript.children.index(line) < transcript.children.index(second)
        await pilot.press("escape")  # the second block is not run
        await wait_for(pilot, lambda: not app.busy, timeout=30)
        assert len(app.query(RunChanges)) == 1


async def test_resumed_conversation_shows_each_runs_line(project, make_interpreter, llm):
    llm.queue(shell_block("echo r > r.txt"), "Done.")
    interp = make_interpreter(conversation_history=True)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "make r")
        await reopen(pilot, interp)
        assert "+1 ~0 -0 files" in line_text(app.query_one(RunChanges))


async def test_replay_progress_is_shown(project, make_interpreter, llm):
    from oi_core.events import KernelReplayProgressed

    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        interp.bus.publish(KernelReplayProgressed(1, 3, "running", "Running the Python block at message 4…"))
        await wait_for(pilot, lambda: bool(app.query(ReplayProgress)))
        progress = app.query_one(ReplayProgress)
        assert "1/3" in str(progress.render())
        interp.bus.publish(KernelReplayProgressed(2, 3, "failed", "stopped at message 9 (boom)"))
        await wait_for(pilot, lambda: progress.has_class("-failed"))
        assert "boom" in str(progress.render()) and len(app.query(ReplayProgress)) == 1


async def test_rewind_asks_about_the_python_kernel_and_shows_the_replay(project, make_interpreter, llm):
    llm.queue("Setting it.\n\n```python\nx = 5\nopen('log.txt', 'a').write('x')\n```\n", "Set.")
    llm.queue("Using it.\n\n```python\ny = x * 2\n```\n", "Done.")
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "set x")
        await run_turn(pilot, "use x")
        second = [i for i, m in enumerate(interp.messages) if m.get("content") == "use x"][0]
        app.confirm_rewind(second)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await say_yes(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "rebuild the Python kernel"
                       in app.screen.question)
        assert "1 approved Python block(s)" in app.screen.question
        await say_yes(pilot)
        await wait_for(pilot, lambda: any(p.has_class("-finished") for p in app.query(ReplayProgress)), timeout=90)
        assert "1 block(s) ran again" in str(app.query_one(ReplayProgress).render())
        assert (project / "log.txt").read_text() == "x"  # the replay's own write was put back
        out = [c.get("content") async for c in interp.computer.arun("python", "print(x, 'y' in globals())")
               if c.get("format") == "output"]
        assert "".join(out).strip() == "5 False"


async def test_an_undo_is_still_said_after_resuming(project, make_interpreter, llm):
    """The note the model gets about an undo is on screen after a restart too, not only in the live session."""
    llm.queue(shell_block("echo u > u.txt"), "Done.")
    interp = make_interpreter(conversation_history=True)
    app = OiApp(interp)
    async with app.run_test(size=SIZE) as pilot:
        await run_turn(pilot, "make u")
        await pilot.press("f8")
        await say_yes(pilot)
        await wait_for(pilot, lambda: not (project / "u.txt").exists())
        await wait_for(pilot, lambda: any(m.get("role") == "computer" and m.get("type") == "message"
                                          for m in interp.messages))
        await reopen(pilot, interp)
        notices = [str(n.render()) for n in app.query("NoticeMessage")]
        assert any("undid" in text.lower() for text in notices), notices
        assert not any(text.startswith("[oi-tui]") for text in notices)


class CountingMessage(dict):
    reads = 0

    def get(self, *args):
        CountingMessage.reads += 1
        return super().get(*args)


async def test_the_footer_checks_for_undo_read_from_the_newest_run_only(make_interpreter) -> None:
    """check_action runs for every binding on every key: in a long session it must not walk every message."""
    from oi_core.checkpoints import RECORD_KEY

    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=(120, 40)):
        messages = [CountingMessage(role="user", type="message", content=f"m{i}") for i in range(5_000)]
        messages[10] = CountingMessage(role="computer", type="code", content="x", **{RECORD_KEY: {"undone": True}})
        messages.append(CountingMessage(role="computer", type="code", content="y", **{RECORD_KEY: {"before": "c"}}))
        interp.messages[:] = messages
        CountingMessage.reads = 0
        assert app.check_action("show_run_changes", ()) is True
        assert app.check_action("undo", ()) is True
        assert CountingMessage.reads < 20, CountingMessage.reads
        assert app.client.last_undoable()[0] == 5_000
        assert [index for index, _ in app.client.runs_newest_first()] == [5_000, 10]
        assert list(reversed(app.client.recorded_runs())) == list(app.client.runs_newest_first())
