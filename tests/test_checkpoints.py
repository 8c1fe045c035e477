"""Checkpoints, undo and rewind through the real path: scripted model -> approval over the bus -> real kernels/bash
-> shadow repository (the real `git`) -> files put back byte for byte."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from oi_core.checkpoint_git import Shadow
from oi_core.checkpoints import RECORD_KEY, RunCheckpoints, record_of, state_dir
from oi_core.events import (
    ApprovalRequested,
    CodeApproved,
    CodeSkipped,
    ErrorRaised,
    FilesRestored,
    KernelReplayProgressed,
    RunFilesChanged,
)
from oi_core.magic import run_magic
from oi_core.session import Session

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder as the working directory, and a private state folder for the shadow repositories."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return root.resolve()


def tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Everything under root (but .git folders): files with bytes and permission bits, links, folders."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
    return found


def git_folder(path: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file of a .git folder: bytes, mode and mtime (to prove nothing wrote to it)."""
    found = {}
    for folder, _dirs, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            info = os.lstat(file)
            found[str(file.relative_to(path))] = (file.read_bytes(), info.st_mode, info.st_mtime_ns)
    return found


def make_repo(path: Path, files: dict[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q"], cwd=path, check=True, env=env)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)


class Driver:
    """Runs turns through a Session and answers each approval as scripted ("run" unless told otherwise)."""

    def __init__(self, interp: Any) -> None:
        self.interp = interp
        self.session = Session(interp)
        self.approvals: list[ApprovalRequested] = []
        self.errors: list[ErrorRaised] = []
        self.changed: list[RunFilesChanged] = []
        self.restored: list[FilesRestored] = []
        self.answers: list[str] = []
        interp.bus.on(ApprovalRequested, self._answer)
        interp.bus.on(ErrorRaised, self.errors.append)
        interp.bus.on(RunFilesChanged, self.changed.append)
        interp.bus.on(FilesRestored, self.restored.append)

    def _answer(self, event: ApprovalRequested) -> None:
        self.approvals.append(event)
        answer = self.answers.pop(0) if self.answers else "run"
        if answer == "run":
            self.interp.bus.publish(CodeApproved(event.request_id, event.code))
        else:
            self.interp.bus.publish(CodeSkipped(event.request_id))

    async def turn(self, text: str) -> None:
        await asyncio.wait_for(self.session.run_turn(text), 90)

    async def close(self) -> None:
        await self.session.close()


def fenced(language: str, code: str) -> str:
    return f"Running it.\n\n```{language}\n{code}\n```\n"


def code_indexes(interp: Any) -> list[int]:
    return [i for i, m in enumerate(interp.messages) if m.get("type") == "code"]


# ---------------------------------------------------------------- one run, undone


async def test_python_run_that_writes_edits_appends_deletes_renames_and_chmods_is_undone_byte_for_byte(
        project, make_interpreter, llm) -> None:
    (project / "edit.txt").write_text("one\ntwo\n")
    (project / "append.log").write_text("first\n")
    (project / "gone.txt").write_text("delete me\n")
    (project / "old_name.txt").write_text("rename me\n")
    (project / "private.txt").write_text("secret\n")
    (project / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (project / "picture.bin").write_bytes(bytes(range(256)) * 4)
    os.chmod(project / "private.txt", 0o644)
    os.chmod(project / "tool.sh", 0o644)
    before = tree(project)
    code = "\n".join([
        "import os",
        "open('new.txt', 'w').write('brand new\\n')",
        "open('edit.txt', 'w').write('one\\nTWO\\nthree\\n')",
        "open('append.log', 'a').write('second\\n')",
        "os.remove('gone.txt')",
        "os.rename('old_name.txt', 'new_name.txt')",
        "os.chmod('private.txt', 0o600)",
        "os.chmod('tool.sh', 0o755)",
        "open('picture.bin', 'wb').write(bytes(reversed(range(256))) * 4)",
        "open('blob.bin', 'wb').write(b'\\x00\\xff' * 100)",
        "print('changed')",
    ])
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("python", code), "Done.")
    await driver.turn("change my files")
    assert "changed" in "".join(str(m.get("content")) for m in interp.messages if m.get("format") == "output")
    assert tree(project) != before

    record = record_of(interp.messages[code_indexes(interp)[0]])
    assert record is not None and record["before"] and record["after"] and not record["error"]
    files = {f["path"]: f for f in record["files"]}
    assert files["new.txt"]["status"] == "added" and files["blob.bin"]["status"] == "added"
    assert files["edit.txt"]["status"] == "modified" and (files["edit.txt"]["added"], files["edit.txt"]["removed"]) == (2, 1)
    assert files["append.log"]["added"] == 1
    assert files["gone.txt"]["status"] == "deleted"
    assert files["new_name.txt"]["status"] == "renamed" and files["new_name.txt"]["old_path"] == "old_name.txt"
    assert "permissions 644 → 600" in files["private.txt"]["note"]
    assert files["tool.sh"]["status"] == "modified"
    assert files["picture.bin"]["added"] is None  # binary: no line counts
    assert record["counts"]["added"] == 2 and record["counts"]["deleted"] == 1
    assert driver.changed and driver.changed[0].record["run"] == record["run"]

    result = await interp.aundo()
    assert tree(project) == before, result.describe()
    assert "new.txt" in result.removed and "edit.txt" in result.written
    assert record_of(interp.messages[code_indexes(interp)[0]])["undone"] is True
    note = interp.messages[-1]
    assert note["role"] == "computer" and "undid the file changes" in note["content"]
    assert driver.restored and driver.restored[0].action == "undo"

    llm.queue("I see the files are back.")
    await driver.turn("what now?")
    sent = "\n".join(str(m.get("content")) for m in llm.last_messages())
    assert "undid the file changes" in sent  # the model is told
    await driver.close()


async def test_shell_run_changes_are_undone_and_the_limits_are_stated(project, make_interpreter, llm) -> None:
    (project / "a.txt").write_text("alpha\n")
    (project / "b.txt").write_text("beta\n")
    (project / "run.sh").write_text("echo run\n")
    os.chmod(project / "run.sh", 0o644)
    before = tree(project)
    code = ("echo more >> a.txt && rm b.txt && mv a.txt c.txt && chmod 755 run.sh && "
            "printf '\\000\\001\\002' > bytes.bin && mkdir -p deep/er && echo x > deep/er/file && echo done")
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", code), "Done.")
    await driver.turn("shell changes")
    record = record_of(interp.messages[code_indexes(interp)[0]])
    assert record["counts"]["added"] >= 2 and record["counts"]["deleted"] >= 1
    result = await interp.aundo()
    assert tree(project) == before  # deep/er pruned too: it did not exist before
    text = result.describe()
    assert "outside it, to databases, remote systems or installed packages" in text.replace("Changes o", "o")
    await driver.close()


async def test_file_replaced_by_a_folder_and_a_folder_replaced_by_a_file_are_both_undone(
        project, make_interpreter, llm) -> None:
    (project / "thing").write_text("I am a file\n")
    (project / "box").mkdir()
    (project / "box" / "inside.txt").write_text("inside\n")
    before = tree(project)
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", "rm thing && mkdir thing && echo now-a-dir > thing/child.txt && "
                              "rm -r box && echo now-a-file > box"), "Done.")
    await driver.turn("swap them")
    assert (project / "thing").is_dir() and (project / "box").is_file()
    await interp.aundo()
    assert tree(project) == before
    await driver.close()


# ---------------------------------------------------------------- what is and is not covered


async def test_nested_repository_files_are_covered_and_its_git_folder_is_never_touched(
        project, make_interpreter, llm) -> None:
    make_repo(project, {"top.txt": "top\n", ".gitignore": "build/\n"})  # the project itself is a git repository
    make_repo(project / "vendor" / "lib", {"lib.py": "VERSION = 1\n"})
    (project / "build").mkdir()
    (project / "build" / "old.o").write_bytes(b"\x7fELF old")
    project_git = git_folder(project / ".git")
    nested_git = git_folder(project / "vendor" / "lib" / ".git")
    before = tree(project)
    code = ("echo 'VERSION = 2' > vendor/lib/lib.py && echo new > vendor/lib/added.py && "
            "echo changed >> top.txt && echo artefact > build/new.o && echo ok")
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", code), "Done.")
    await driver.turn("edit the vendored lib")
    record = record_of(interp.messages[code_indexes(interp)[0]])
    paths = {f["path"] for f in record["files"]}
    assert {"vendor/lib/lib.py", "vendor/lib/added.py", "top.txt"} <= paths
    assert not any(p.startswith("build/") for p in paths)  # .gitignore'd build output is not recorded
    assert not any(".git/" in p or p.endswith(".git") for p in paths)
    patch = await interp.run_checkpoints.patch(record)
    assert "+++ b/vendor/lib/lib.py" in patch and "+VERSION = 2" in patch and "-VERSION = 1" in patch
    assert "+++ b/top.txt" in patch

    await interp.aundo()
    after = tree(project)
    assert after["build/new.o"] == ("file", b"artefact\n", 0o644)  # ignored output left alone
    after.pop("build/new.o")
    assert after == before
    assert git_folder(project / ".git") == project_git  # the user's repository: byte for byte, same mtimes
    assert git_folder(project / "vendor" / "lib" / ".git") == nested_git
    shadow_root = state_dir()
    assert shadow_root.is_relative_to(project.parent / "state")  # the shadow lives in the state folder
    assert not any(p.name.startswith("oi-tui") for p in project.rglob("*"))  # nothing of ours in the project
    await driver.close()


async def test_files_over_the_size_cap_are_listed_as_not_restorable(project, make_interpreter, llm) -> None:
    (project / "big.dat").write_bytes(b"x" * 5000)
    (project / "small.txt").write_text("small\n")
    interp = make_interpreter(checkpoint_max_file_size=1000)
    driver = Driver(interp)
    llm.queue(fenced("shell", "printf 'y%.0s' $(seq 6000) > big.dat && head -c 3000 /dev/zero > huge.new && "
                              "echo edit >> small.txt"), "Done.")
    await driver.turn("big files")
    record = record_of(interp.messages[code_indexes(interp)[0]])
    files = {f["path"]: f for f in record["files"]}
    assert files["big.dat"]["restorable"] is False and "size cap" in files["big.dat"]["note"]
    assert files["huge.new"]["status"] == "added"
    result = await interp.aundo()
    assert (project / "small.txt").read_text() == "small\n"
    assert not (project / "huge.new").exists()  # created by the run: undo removes it
    assert (project / "big.dat").read_bytes() == b"y" * 6000  # could not be restored, left as it is
    assert any(path == "big.dat" for path, _ in result.not_restorable)
    assert "not restorable big.dat" in result.describe()
    await driver.close()


async def test_paths_outside_the_working_directory_that_the_run_touches_are_listed(
        project, make_interpreter, llm, tmp_path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", f"echo hi > {outside}/note.txt && echo in > inside.txt"), "Done.")
    await driver.turn("write outside")
    record = record_of(interp.messages[code_indexes(interp)[0]])
    assert str(outside / "note.txt") in record["outside"]
    result = await interp.aundo()
    assert (outside / "note.txt").exists()  # not covered, and said so
    assert str(outside / "note.txt") in result.describe()
    assert not (project / "inside.txt").exists()
    await driver.close()


# ---------------------------------------------------------------- several runs


async def test_two_undos_in_a_row_walk_back_two_runs(project, make_interpreter, llm) -> None:
    (project / "f.txt").write_text("v0\n")
    start = tree(project)
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", "echo v1 > f.txt"), "One.")
    await driver.turn("first")
    after_first = tree(project)
    llm.queue(fenced("shell", "echo v2 > f.txt && echo extra > g.txt"), "Two.")
    await driver.turn("second")
    first = await interp.aundo()
    assert tree(project) == after_first and first.index == code_indexes(interp)[1]
    second = await interp.aundo()
    assert tree(project) == start and second.index == code_indexes(interp)[0]
    third = await interp.aundo()
    assert not third.runs and "Nothing left to undo" in third.describe()
    await driver.close()


async def test_rewind_then_continue_then_rewind_again_keeps_forks(project, make_interpreter, llm) -> None:
    from oi_core.conversations import store_for

    interp = make_interpreter(conversation_history=True)
    driver = Driver(interp)
    llm.queue(fenced("shell", "echo a > a.txt"), "Made a.")
    await driver.turn("make a")
    second_turn = len(interp.messages)
    llm.queue(fenced("shell", "echo b > b.txt && echo a2 >> a.txt"), "Made b.")
    await driver.turn("make b")
    assert (project / "b.txt").exists()

    original_id = interp.conversation_id
    result = await interp.arewind(second_turn)
    assert not (project / "b.txt").exists() and (project / "a.txt").read_text() == "a\n"
    assert len(interp.messages) == second_turn
    assert result.kept_id == original_id and result.fork_id == interp.conversation_id != original_id
    await interp.flush_autosave()
    store = store_for(interp)
    kept = store.load(original_id)
    assert any(m.get("content") == "make b" for m in kept)  # the original conversation, kept whole
    assert len(store.load(result.fork_id)) == second_turn

    llm.queue(fenced("shell", "echo c > c.txt"), "Made c.")
    await driver.turn("make c instead")
    assert (project / "c.txt").exists()
    again = await interp.arewind(0)
    assert not (project / "a.txt").exists() and not (project / "c.txt").exists()
    assert interp.messages == [] and again.kept_id == result.fork_id
    assert len(again.runs) == 2
    await interp.flush_autosave()
    titles = [info.title for info in store.list()]
    assert sorted(titles) == ["make a", "make a (rewound to message 0)", f"make a (rewound to message {second_turn})"]
    assert any(m.get("content") == "make c instead" for m in store.load(again.kept_id))
    await driver.close()


async def test_undo_after_resume_uses_the_stored_record(project, make_interpreter, llm) -> None:
    from oi_core.conversations import resume

    interp = make_interpreter(conversation_history=True)
    driver = Driver(interp)
    llm.queue(fenced("shell", "echo kept > out.txt"), "Done.")
    await driver.turn("make out")
    await interp.flush_autosave()
    await driver.close()

    again = make_interpreter(conversation_history=True)
    resume(again, interp.conversation_id)
    code = [m for m in again.messages if m.get("type") == "code"][0]
    assert code[RECORD_KEY]["counts"]["added"] == 1  # a resumed conversation still shows what the run changed
    result = await again.aundo()
    assert result.runs and not (project / "out.txt").exists()


# ---------------------------------------------------------------- when no checkpoint can be taken


async def test_read_only_checkpoint_folder_asks_before_running_even_with_auto_run(
        project, make_interpreter, llm, tmp_path, monkeypatch) -> None:
    # The machine runs tests as root, and root ignores permission bits, so chmod cannot make a folder
    # read-only here. A path *under a regular file* cannot be created by anyone (ENOTDIR), root included.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder's parent should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker / "state"))
    interp = make_interpreter(auto_run=True)
    driver = Driver(interp)
    driver.answers = ["skip"]
    llm.queue(fenced("shell", "echo ran > ran.txt"))  # a skip without a reason ends the turn
    await driver.turn("try it")
    assert not (project / "ran.txt").exists()
    assert len(driver.approvals) == 1 and "no checkpoint could be taken" in driver.approvals[0].forced
    error = [e for e in driver.errors if e.kind == "checkpoint"][0]
    assert "cannot be created" in error.message and "Undo cannot put its file changes back" in error.message

    driver.answers = ["run"]
    llm.queue(fenced("shell", "echo ran > ran.txt"), "Ran.")
    await driver.turn("run it anyway")
    assert (project / "ran.txt").read_text() == "ran\n"
    record = record_of(interp.messages[code_indexes(interp)[-1]])
    assert record["error"] and record["before"] is None
    result = await interp.aundo()
    assert not result.runs and "ran without a checkpoint" in result.describe()
    assert (project / "ran.txt").exists()
    await driver.close()


async def test_missing_git_is_a_clear_message(project, make_interpreter, monkeypatch, tmp_path) -> None:
    interp = make_interpreter()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    asked: list[str] = []

    async def ask(reason: str, code: str) -> str | None:
        asked.append(reason)
        return None

    errors: list[ErrorRaised] = []
    interp.bus.on(ErrorRaised, errors.append)
    assert await interp.run_checkpoints.before_run(1, "shell", "true", ask) is None
    assert asked and "git is not installed" in asked[0]
    assert "git is not installed" in errors[0].message


async def test_checkpoints_off_records_nothing(project, make_interpreter, llm) -> None:
    interp = make_interpreter(checkpoints=False)
    driver = Driver(interp)
    llm.queue(fenced("shell", "echo x > x.txt"), "Done.")
    await driver.turn("go")
    assert all(RECORD_KEY not in m for m in interp.messages)
    assert not (project.parent / "state").exists()
    assert "No run to undo" in (await interp.aundo()).describe()
    await driver.close()


# ---------------------------------------------------------------- magic commands and the sync API


async def test_plain_magic_undo_removes_the_exchange_and_its_file_changes(project, make_interpreter, llm) -> None:
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", "echo made > made.txt"), "Done.")
    await driver.turn("make it")
    text = await run_magic(driver.session, "%undo")
    assert "Removed your last message" in text and "made.txt" in text
    assert interp.messages == [] and not (project / "made.txt").exists()
    await driver.close()


async def test_plain_magic_rewind_lists_points_and_rewinds(project, make_interpreter, llm) -> None:
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", "echo 1 > one.txt"), "One.")
    await driver.turn("first")
    llm.queue(fenced("shell", "echo 2 > two.txt"), "Two.")
    await driver.turn("second")
    listing = await run_magic(driver.session, "%rewind")
    second = [i for i, m in enumerate(interp.messages) if m.get("content") == "second"][0]
    assert f"{second:>4}  you: second" in listing and "+1 ~0 -0 files" in listing
    from oi_core.errors import OiError

    with pytest.raises(OiError, match="no message 99"):
        await run_magic(driver.session, "%rewind 99")
    with pytest.raises(OiError, match="message number"):
        await run_magic(driver.session, "%rewind two")
    text = await run_magic(driver.session, f"%rewind {second}")
    assert f"Rewound to message {second}" in text and not (project / "two.txt").exists()
    assert (project / "one.txt").exists() and len(interp.messages) == second
    await driver.close()


def test_sync_api_undo(project, make_interpreter, llm) -> None:
    interp = make_interpreter(auto_run=True)
    llm.queue(fenced("shell", "echo sync > sync.txt"), "Done.")
    interp.chat("go", display=False)
    assert (project / "sync.txt").exists()
    result = interp.undo()
    assert result.runs and not (project / "sync.txt").exists()
    assert "Nothing left to undo" in interp.undo().describe()


# ---------------------------------------------------------------- rebuilding the kernel


async def test_rewind_can_replay_python_blocks_and_stops_at_the_first_error(project, make_interpreter, llm) -> None:
    interp = make_interpreter()
    driver = Driver(interp)
    progress: list[KernelReplayProgressed] = []
    interp.bus.on(KernelReplayProgressed, progress.append)
    llm.queue(fenced("python", "x = 20\nopen('log.txt', 'a').write('x\\n')"), "Set x.")
    await driver.turn("set x")
    llm.queue(fenced("python", "y = x + 1\nprint(y)"), "Set y.")
    await driver.turn("set y")
    llm.queue(fenced("python", "raise RuntimeError('boom')"), "It failed.")
    await driver.turn("fail")
    llm.queue(fenced("python", "z = 3"), "Set z.")
    await driver.turn("set z")
    fourth = [i for i, m in enumerate(interp.messages) if m.get("content") == "set z"][0] + 1
    log_before = (project / "log.txt").read_text()

    result = await interp.arewind(fourth, replay_kernel=True)  # keeps the failing block, drops "z = 3"
    replay = result.replay
    assert replay["total"] == 3 and replay["ran"] == 2 and replay["failed_at"] is not None
    assert "boom" in replay["error"]
    assert (project / "log.txt").read_text() == log_before  # the replay's own file writes were put back
    assert [p.state for p in progress][-1] == "failed" and progress[0].state == "running"

    outputs: list[str] = []
    async for chunk in interp.computer.arun("python", "print(x, y, 'z' in globals())"):
        if chunk.get("format") == "output":
            outputs.append(str(chunk.get("content")))
    assert "".join(outputs).strip() == "20 21 False"
    await driver.close()


# ---------------------------------------------------------------- the shadow repository itself


def test_snapshot_skips_unchanged_files_and_reuses_the_commit(tmp_path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    for n in range(50):
        (root / f"f{n}.txt").write_text(str(n))
    shadow = Shadow(root, tmp_path / "state", max_file_size=10_000, max_files=1000)
    first = shadow.snapshot()
    assert shadow.snapshot().id == first.id  # nothing changed: the same snapshot
    (root / "f3.txt").write_text("changed")
    assert shadow.snapshot().id != first.id


def test_record_manager_never_uses_the_project_for_state(project) -> None:
    manager = RunCheckpoints(type("I", (), {"checkpoints": True, "checkpoint_max_file_size": 100})())
    shadow = manager.shadow(project)
    assert not shadow.git_dir.is_relative_to(project)


def test_plain_command_undo_and_rewind_cover_files(project, llm, tmp_path) -> None:
    """`oi-tui --plain -y` for real, in a project folder: %undo puts the files back, %rewind lists its points."""
    import sys

    root = Path(__file__).resolve().parent.parent
    llm.queue(fenced("shell", "echo one > one.txt"), "Made one.", fenced("shell", "echo two > two.txt"), "Made two.")
    env = {**os.environ, "PYTHONPATH": str(root), "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "oi_tui.cli", "--plain", "-y", "--model", "openai/test-model", "--api_base", llm.url,
         "--api_key", "x", "--no-llm_supports_functions"],
        input="make one\nmake two\n%undo\n%rewind\n", capture_output=True, text=True, cwd=project, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Removed your last message and 4 message(s) after it. 1 file(s) its code changed were put back." \
        in done.stdout
    assert "removed  two.txt" in done.stdout and "installed packages" in done.stdout
    assert "you: make one" in done.stdout and "+1 ~0 -0 files" in done.stdout  # the %rewind listing
    assert (project / "one.txt").exists() and not (project / "two.txt").exists()


async def test_symlinks_and_unusual_names_are_put_back(project, make_interpreter, llm) -> None:
    (project / "café notes.txt").write_text("accents and a space\n")
    (project / "target.txt").write_text("the target\n")
    os.symlink("target.txt", project / "link")
    before = tree(project)
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("shell", "rm link && echo 'now a file' > link && echo changed > 'café notes.txt' && "
                              "ln -s 'café notes.txt' 'new link' && echo tab > \"$(printf 'tab\\tname')\""), "Done.")
    await driver.turn("odd names")
    record = record_of(interp.messages[code_indexes(interp)[0]])
    paths = {f["path"] for f in record["files"]}
    assert {"café notes.txt", "new link", "link", "tab\tname"} <= paths
    await interp.aundo()
    assert tree(project) == before
    await driver.close()
