"""Checkpoints of an unchanged project cost no git process (a stat of each file and folder says nothing changed),
and every kind of change is still seen: the real `git`, real files, a real kernel through the interpreter."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from oi_core import checkpoint_git
from oi_core.checkpoint_changes import changes_between
from oi_core.checkpoint_git import Shadow
from oi_core.checkpoints import record_of
from tests.test_checkpoints import Driver, code_indexes, fenced, project  # noqa: F401  (project: a fixture)

RACY_FOR_TESTS = 0.3  # seconds: files must be this old before a stat of them is trusted (the real margin is 3 s)


@pytest.fixture
def quick_racy(monkeypatch) -> Callable[[], None]:
    """Trust stats of files older than RACY_FOR_TESTS; returns a wait until what was just written is that old."""
    monkeypatch.setattr(checkpoint_git, "RACY_NS", int(RACY_FOR_TESTS * 1e9))
    return lambda: time.sleep(RACY_FOR_TESTS + 0.1)


@pytest.fixture
def git_runs(monkeypatch) -> list[list[str]]:
    """Every git command started from now on (the real Popen runs it; this only writes down its arguments)."""
    started: list[list[str]] = []
    real = subprocess.Popen.__init__

    def spy(self, args, *rest, **kwargs):
        if isinstance(args, (list, tuple)) and args and args[0] == "git":
            started.append(list(args))
        real(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    return started


def make_files(root: Path) -> None:
    (root / "src" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "src" / "b.py").write_text("B = 1\n")
    (root / "src" / "deep" / "c.md").write_text("# c\n")
    (root / "run.sh").write_text("echo hi\n")


def shadow_of(root: Path, tmp_path: Path) -> Shadow:
    return Shadow(root, tmp_path / "shadows", max_file_size=10 * 1024 * 1024, max_files=100_000)


def test_a_snapshot_of_an_unchanged_project_starts_no_git_process(project, tmp_path, quick_racy, git_runs) -> None:
    make_files(project)
    quick_racy()
    shadow = shadow_of(project, tmp_path)
    first = shadow.snapshot()
    assert git_runs, "the first snapshot asks git"
    del git_runs[:]
    for _ in range(3):
        assert shadow.snapshot() is first
    assert git_runs == []


def test_files_written_just_before_a_snapshot_are_checked_by_git_next_time(project, tmp_path, git_runs) -> None:
    """Within the (real, 3 s) margin a file may change again in the same timestamp tick: its stat proves nothing."""
    make_files(project)
    shadow = shadow_of(project, tmp_path)
    first = shadow.snapshot()
    del git_runs[:]
    assert shadow.snapshot() is first
    assert git_runs, "a stat of files this recent is not trusted"


def test_a_project_over_the_limit_is_checked_by_git_every_time(project, tmp_path, quick_racy, monkeypatch,
                                                                git_runs) -> None:
    monkeypatch.setattr(checkpoint_git, "STAT_CHECK_LIMIT", 5)
    make_files(project)
    quick_racy()
    shadow = shadow_of(project, tmp_path)
    first = shadow.snapshot()
    del git_runs[:]
    assert shadow.snapshot() is first
    assert git_runs, "too many files and folders for a stat of each: git looks"


def _rewrite_same_size_same_mtime(root: Path) -> str:
    path = root / "src" / "b.py"
    info = os.stat(path)
    path.write_text("B = 2\n")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # the mtime looks untouched; the ctime cannot
    return "src/b.py"


def _add_in_empty_folder(root: Path) -> str:
    (root / "empty" / "new.txt").write_text("new\n")
    return "empty/new.txt"


def _add_deep(root: Path) -> str:
    (root / "src" / "deep" / "d.txt").write_text("d\n")
    return "src/deep/d.txt"


def _delete(root: Path) -> str:
    (root / "src" / "deep" / "c.md").unlink()
    return "src/deep/c.md"


def _chmod(root: Path) -> str:
    os.chmod(root / "run.sh", 0o755)
    return "run.sh"


def _rename(root: Path) -> str:
    (root / "a.txt").rename(root / "z.txt")
    return "z.txt"


def _file_to_link(root: Path) -> str:
    (root / "a.txt").unlink()
    (root / "a.txt").symlink_to("run.sh")
    return "a.txt"


def _new_folder_with_file(root: Path) -> str:
    (root / "src" / "deep" / "new").mkdir()
    (root / "src" / "deep" / "new" / "e.txt").write_text("e\n")
    return "src/deep/new/e.txt"


@pytest.mark.parametrize("change", [_rewrite_same_size_same_mtime, _add_in_empty_folder, _add_deep, _delete, _chmod,
                                    _rename, _file_to_link, _new_folder_with_file], ids=lambda f: f.__name__[1:])
def test_every_kind_of_change_after_a_stat_checked_snapshot_is_recorded(project, tmp_path, quick_racy,
                                                                         change) -> None:
    make_files(project)
    os.chmod(project / "run.sh", 0o644)
    quick_racy()
    shadow = shadow_of(project, tmp_path)
    before = shadow.snapshot()
    assert shadow.snapshot() is before and shadow.unchanged(), "the stat check is in use"
    path = change(project)
    after = shadow.snapshot()
    assert after is not before
    assert path in {c.path for c in changes_between(shadow, before, after)}


async def test_turns_whose_code_changes_no_file_start_no_git_and_undo_still_covers_a_run(
        project, make_interpreter, llm, quick_racy, git_runs) -> None:
    (project / "data.txt").write_text("12345\n")
    (project / "notes").mkdir()
    (project / "notes" / "n.md").write_text("note\n")
    quick_racy()
    interp = make_interpreter()
    driver = Driver(interp)
    llm.queue(fenced("python", "print(sum(range(5)))"), "Ten.")
    await driver.turn("first")  # the first checkpoint asks git once
    del git_runs[:]
    llm.queue("Nothing to run for that.")
    await driver.turn("just talk")
    assert git_runs == [], "a turn that ran no code took no checkpoint"
    llm.queue(fenced("python", "print(sum(range(6)))"), "Fifteen.")
    await driver.turn("second")
    assert "15" in str(interp.messages[-2].get("content"))
    assert git_runs == [], "a run that changed no file took its checkpoints without git"
    record = record_of(interp.messages[code_indexes(interp)[-1]])
    assert record is not None and record["before"] and record["counts"]["modified"] == 0 and not record["error"]

    code = ("import os\nst = os.stat('data.txt')\nopen('data.txt', 'w').write('54321\\n')\n"
            "os.utime('data.txt', ns=(st.st_atime_ns, st.st_mtime_ns))\nprint('rewritten')")
    llm.queue(fenced("python", code), "Done.")
    await driver.turn("third")
    record = record_of(interp.messages[code_indexes(interp)[-1]])
    assert [f["path"] for f in record["files"]] == ["data.txt"]
    result = await interp.aundo()
    assert (project / "data.txt").read_text() == "12345\n", result.describe()
    await driver.close()


async def test_the_first_snapshot_is_taken_at_start_so_the_first_run_does_not_wait(
        project, make_interpreter, quick_racy, git_runs) -> None:
    """Session.warm_up takes the project's first (hashing) snapshot; the first approved run then needs no git."""
    from oi_core.session import Session

    make_files(project)
    quick_racy()
    interp = make_interpreter()
    session = Session(interp)
    started = asyncio.Event()
    real = interp.run_checkpoints.warm_up

    async def warm_up_now() -> None:
        await real(delay=0)
        started.set()

    interp.run_checkpoints.warm_up = warm_up_now
    session._start_kernel = lambda: asyncio.sleep(0)  # no kernel needed here
    session.warm_up()
    await asyncio.wait_for(started.wait(), 60)
    assert git_runs, "the warm-up snapshot asked git"
    del git_runs[:]
    assert await interp.run_checkpoints.before_run(0, "shell", "echo hi", None) == "echo hi"
    assert git_runs == [], "the first run's checkpoint reused the warm-up snapshot"
    await session.close()
