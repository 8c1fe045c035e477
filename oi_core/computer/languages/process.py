"""Languages run as one process per run: JavaScript (node), R, Ruby, Java, PowerShell, AppleScript; and HTML.

The code is written to a file in a private directory and the runtime is started on it (both in a thread,
off the event loop) as the leader of its own session, without the app's terminal: stop (SIGINT, then
SIGTERM, then SIGKILL to its process group, then whatever is left in its session) reaches everything it
started that stayed in reach. stdout and stderr are streamed as they come, decoded incrementally; stdin
is /dev/null, so a program that reads input gets end-of-file instead of hanging.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from typing import Any

from ..base import Language, RunIO
from ._procs import detached_stdio, end_reachable, reachable
from ._stream import (
    OUTPUT_WINDOW,
    Finished,
    RunStream,
    StopOnce,
    ThrottledCleaner,
    active_line,
    failed_outcome,
    output,
)


class ProcessLanguage(Language):
    #: executables tried in order; the first found runs the code
    executables: tuple[str, ...] = ()
    #: argv after the executable; "{file}" is replaced by the code's path
    arguments: tuple[str, ...] = ("{file}",)
    file_name: str = "main"
    display_name: str = ""

    def __init__(self, computer: Any = None) -> None:
        super().__init__(computer)
        self._proc: subprocess.Popen[bytes] | None = None
        self._done: Finished | None = None
        self._stopper: StopOnce | None = None

    def executable(self) -> str | None:
        for name in self.executables:
            found = shutil.which(name)
            if found:
                return found
        return None

    def missing_runtime(self) -> str | None:
        if self.executable() is None:
            return f"{self.display_name or self.name} can't run here: {self.install_hint}"
        return None

    def argv(self, executable: str, path: str) -> list[str]:
        return [executable] + [a.replace("{file}", path) for a in self.arguments]

    def _spawn(self, code: str) -> tuple[subprocess.Popen[bytes], str]:
        """Blocking (run in a thread): write the code to a private directory and start the runtime on it."""
        executable = self.executable()
        if executable is None:
            raise _Missing(self.missing_runtime() or "")
        directory = tempfile.mkdtemp(prefix=f"oi-{self.name}-")
        try:
            path = os.path.join(directory, f"{self.file_name}.{self.file_extension}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
            proc = subprocess.Popen(
                self.argv(executable, path),
                **detached_stdio(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=os.getcwd(),
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return proc, directory

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        spawning = asyncio.ensure_future(asyncio.to_thread(self._spawn, code))
        try:
            proc, directory = await asyncio.shield(spawning)
        except asyncio.CancelledError:  # the caller went away while the process started: end it at once
            spawning.add_done_callback(_kill_spawned)
            raise
        except _Missing as missing:
            yield output(str(missing))
            return
        except OSError as exc:
            yield output(f"Could not start {self.display_name or self.name}: {exc}\n")
            yield failed_outcome()
            yield active_line(None)
            return
        _RUNNING[proc] = directory
        stream = RunStream()
        done = Finished()
        stopper = StopOnce()
        self._proc, self._done, self._stopper = proc, done, stopper
        verdict: list[bool] = []  # set by the pump: the process exited non-zero and nobody stopped it

        def pump() -> None:
            assert proc.stdout is not None
            cleaner = ThrottledCleaner()
            fd = proc.stdout.fileno()
            try:
                while True:
                    if not select.select([fd], [], [], OUTPUT_WINDOW)[0]:
                        stream.put_text(cleaner.poll())  # quiet: release output held back by the budget
                        continue
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    stream.put_text(cleaner.feed(data))
                stream.put_text(cleaner.finish())
            finally:
                proc.stdout.close()
                status = proc.wait()
                shutil.rmtree(directory, ignore_errors=True)
                _RUNNING.pop(proc, None)
                if status and not getattr(proc, "_oi_stopped", False):
                    stream.put_text(f"Exit status: {status}\n")
                    verdict.append(True)
                done.set()  # before close: a waiting stop resumes before the consumer sees the end
                stream.close()

        threading.Thread(target=pump, name=f"oi-{self.name}", daemon=True).start()
        try:
            async for event in stream.events():
                if isinstance(event, dict):
                    yield event
        finally:
            if not done.is_set():
                await self.astop()
            await stopper.settled()
            if self._proc is proc:
                self._proc = None
        if verdict and not getattr(proc, "_oi_stopped", False):
            yield failed_outcome()
        yield active_line(None)

    async def astop(self) -> None:
        proc, done, stopper = self._proc, self._done, self._stopper
        if proc is None or done is None or stopper is None or done.is_set():
            return
        await stopper.stop(lambda: self._stop(proc, done))

    async def _stop(self, proc: subprocess.Popen[bytes], done: Finished) -> None:
        """Interrupt, then terminate, then kill the process group; then end what it left in its session."""
        proc._oi_stopped = True  # type: ignore[attr-defined]
        started = await asyncio.to_thread(reachable, proc.pid)  # while they are still its children
        for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, signum)
            except OSError:
                break
            if await done.until_set(0.1):
                break
        # Background children (in other process groups, or ignoring the signals) may live on and keep the
        # output pipe open: end everything in the run's session.
        await asyncio.to_thread(end_reachable, proc.pid, None, None, started)
        await done.until_set(2.0)

    async def aterminate(self) -> None:
        await self.astop()


#: Processes running code right now, with their directories (for ending them all at exit).
_RUNNING: dict[subprocess.Popen[bytes], str] = {}


@atexit.register
def end_running_processes() -> None:
    """Kill every running code process, what it started, and remove its files (blocking; at exit)."""
    for proc, directory in list(_RUNNING.items()):
        started = reachable(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        end_reachable(proc.pid, found_before=started, grace=0)
        shutil.rmtree(directory, ignore_errors=True)
        _RUNNING.pop(proc, None)


class _Missing(Exception):
    """The runtime is not installed (the message says what to install)."""


def _kill_spawned(spawning: "asyncio.Future[tuple[subprocess.Popen[bytes], str]]") -> None:
    if spawning.cancelled() or spawning.exception() is not None:
        return
    proc, directory = spawning.result()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    threading.Thread(target=_reap, args=(proc, directory), daemon=True).start()


def _reap(proc: subprocess.Popen[bytes], directory: str) -> None:
    end_reachable(proc.pid, grace=0)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    shutil.rmtree(directory, ignore_errors=True)


class JavaScript(ProcessLanguage):
    display_name = "JavaScript"
    name = "javascript"
    aliases = ("js", "node", "nodejs")
    file_extension = "js"
    executables = ("node", "nodejs")
    install_hint = "install Node.js (https://nodejs.org) so that `node` is on the PATH."


class R(ProcessLanguage):
    display_name = "R"
    name = "r"
    aliases = ("R", "rscript")
    file_extension = "R"
    executables = ("Rscript",)
    install_hint = "install R (https://www.r-project.org) so that `Rscript` is on the PATH."


class Ruby(ProcessLanguage):
    display_name = "Ruby"
    name = "ruby"
    aliases = ("rb",)
    file_extension = "rb"
    executables = ("ruby",)
    install_hint = "install Ruby (https://www.ruby-lang.org) so that `ruby` is on the PATH."


class Java(ProcessLanguage):
    """Single-file source launch (`java Main.java`, Java 11+): the file holds one public class."""

    display_name = "Java"
    name = "java"
    file_extension = "java"
    executables = ("java",)
    file_name = "Main"
    install_hint = "install a JDK 11 or newer (e.g. OpenJDK) so that `java` is on the PATH."


class PowerShell(ProcessLanguage):
    display_name = "PowerShell"
    name = "powershell"
    aliases = ("ps1", "pwsh")
    file_extension = "ps1"
    executables = ("pwsh", "powershell")
    arguments = ("-NoProfile", "-NonInteractive", "-File", "{file}")
    install_hint = "install PowerShell (https://aka.ms/powershell) so that `pwsh` is on the PATH."


class AppleScript(ProcessLanguage):
    name = "applescript"
    aliases = ("osascript",)
    file_extension = "applescript"
    executables = ("osascript",)
    install_hint = "AppleScript needs macOS (`osascript`)."

    def missing_runtime(self) -> str | None:
        if sys.platform != "darwin" or self.executable() is None:
            return "AppleScript can't run here: it needs macOS, where `osascript` is built in."
        return None


class HTML(Language):
    """HTML is shown, not executed: it comes back as an html chunk; the TUI and the terminal show its source."""

    name = "html"
    aliases = ("htm",)
    file_extension = "html"

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "code", "format": "html", "content": code}
        yield output("The HTML was not rendered: the user was shown its source as text.\n")
        yield active_line(None)
