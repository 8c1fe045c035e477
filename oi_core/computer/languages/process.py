"""Languages run as one process per run: JavaScript (node), R, Ruby, Java, PowerShell, AppleScript; and HTML.

The code is written to a file in a private directory and the runtime is started on it in its own process
group, so stop (SIGINT, then SIGKILL) reaches everything it started. stdout and stderr are streamed as
they come; stdin is closed, so a program that reads input gets end-of-file instead of hanging.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from typing import Any

from ..base import Language, RunIO
from ._stream import RunStream, active_line, output, strip_ansi


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
        self._done: threading.Event | None = None

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

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        executable = self.executable()
        if executable is None:
            yield output(self.missing_runtime() or "")
            return
        directory = tempfile.mkdtemp(prefix=f"oi-{self.name}-")
        path = os.path.join(directory, f"{self.file_name}.{self.file_extension}")
        with open(path, "w") as f:
            f.write(code)
        stream = RunStream()
        done = threading.Event()
        self._done = done
        try:
            proc = subprocess.Popen(
                self.argv(executable, path),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=os.getcwd(),
            )
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            yield output(f"Could not start {executable}: {exc}\n")
            return
        self._proc = proc

        def pump() -> None:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                stream.put_text(strip_ansi(data.decode(errors="replace")))
            code = proc.wait()
            if code and not getattr(proc, "_oi_stopped", False):
                stream.put_text(f"Exit status: {code}\n")
            done.set()
            stream.close()

        threading.Thread(target=pump, name=f"oi-{self.name}", daemon=True).start()
        try:
            async for event in stream.events():
                if isinstance(event, dict):
                    yield event
        finally:
            if not done.is_set():
                await self.astop()
            self._proc = None
            shutil.rmtree(directory, ignore_errors=True)
        yield active_line(None)

    async def astop(self) -> None:
        proc, done = self._proc, self._done
        if proc is None or done is None or done.is_set():
            return
        proc._oi_stopped = True  # type: ignore[attr-defined]
        for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, signum)
            except OSError:
                return
            if await asyncio.to_thread(done.wait, 0.1):
                return

    async def aterminate(self) -> None:
        await self.astop()


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
    """HTML is shown, not executed: it comes back as an html chunk (the UI renders or previews it)."""

    name = "html"
    aliases = ("htm",)
    file_extension = "html"

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "code", "format": "html", "content": code}
        yield output("The HTML was rendered for the user.\n")
        yield active_line(None)
