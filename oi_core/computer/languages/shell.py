"""A persistent bash: `cd`, variables and functions survive between runs.

Each run's code is written to a file and `source`d by a helper function in the long-lived bash, so the
user's line numbers are the file's. A DEBUG trap (inherited into the sourced file with `set -T`) reports
line changes on a private pipe (fd 3) together with the final exit status, so nothing is injected into
the user's code or output. Stop sends SIGINT to bash's process group; an INT trap makes the sourced
code return, leaving the shell alive. The code's stdin is a per-run FIFO: when a process of the shell is
seen blocked reading it (Linux /proc), the caller is asked for a line; EOF closes it.
"""

from __future__ import annotations

import asyncio
import os
import platform
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from ..base import Language, RunIO
from ._stream import Control, RunStream, active_line, strip_ansi

# Functions defined in the shell once; names start with __oi_ to stay out of the user's way.
BASH_SETUP = r"""
__oi_run() {
  local __oi_status
  __oi_f="$1"; __oi_l=""
  set -T
  trap '[[ "${BASH_SOURCE[0]}" == "$__oi_f" && "$LINENO" != "$__oi_l" ]] && __oi_l=$LINENO && printf "L%s\n" "$LINENO" >&3' DEBUG
  trap 'trap - DEBUG; return 130' INT
  source "$1" < "$2"
  __oi_status=$?
  trap - DEBUG
  trap - INT
  set +T
  printf 'D%s\n' "$__oi_status" >&3
}
"""

READ_SYSCALL = {"x86_64": "0", "aarch64": "63", "arm64": "63"}.get(platform.machine())


class _ShellRun:
    def __init__(self, stream: RunStream, fifo: str) -> None:
        self.stream = stream
        self.fifo = fifo
        self.fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        self.done = threading.Event()
        self.status: int | None = None
        self.last_output = time.monotonic()
        self.tail = ""  # the unfinished last line of output: a likely prompt
        self.asking = False
        self.stopped = False

    def close_input(self) -> None:
        fd, self.fifo_fd = self.fifo_fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class Shell(Language):
    name = "shell"
    aliases = ("bash", "sh", "zsh", "console", "terminal")
    file_extension = "sh"
    install_hint = "Install bash."

    def __init__(self, computer: Any = None) -> None:
        super().__init__(computer)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: int = -1
        self._dir: str | None = None
        self._run: _ShellRun | None = None
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def missing_runtime(self) -> str | None:
        if shutil.which("bash") is None:
            return "The shell runner needs bash; install bash to run shell code."
        return None

    # ------------------------------------------------------------ process

    def _ensure(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self._proc
            self._close()
            if self._dir is None or not os.path.isdir(self._dir):
                self._dir = tempfile.mkdtemp(prefix="oi-shell-")
                weakref.finalize(self, shutil.rmtree, self._dir, True)
            ctl_r, ctl_w = os.pipe()
            env = dict(os.environ)
            env.setdefault("PAGER", "cat")
            env.setdefault("GIT_PAGER", "cat")
            env.setdefault("TERM", "dumb")
            self._proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(ctl_w,),
                start_new_session=True,
                env=env,
            )
            os.close(ctl_w)
            self._ctl = ctl_r
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"exec 3>&{ctl_w} {ctl_w}>&-\n".encode() + BASH_SETUP.encode())
            self._proc.stdin.flush()
            self._reader = threading.Thread(target=self._read, args=(self._proc, ctl_r), name="oi-shell", daemon=True)
            self._reader.start()
            return self._proc

    def _close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.wait(2)
            except Exception:
                pass
            for f in (proc.stdin, proc.stdout):
                try:
                    f and f.close()
                except Exception:
                    pass

    def _read(self, proc: subprocess.Popen[bytes], ctl: int) -> None:
        out = proc.stdout
        assert out is not None
        out_fd = out.fileno()
        os.set_blocking(out_fd, False)
        buffered = b""
        try:
            while True:
                ready, _, _ = select.select([out_fd, ctl], [], [], 0.2)
                run = self._run
                if out_fd in ready:
                    try:
                        data = os.read(out_fd, 65536)
                    except BlockingIOError:
                        data = None
                    if data == b"":
                        break
                    if data and run is not None:
                        self._deliver(run, data)
                if ctl in ready:
                    data = os.read(ctl, 4096)
                    if not data:
                        break
                    buffered += data
                    *lines, buffered = buffered.split(b"\n")
                    for line in lines:
                        if line.startswith(b"L") and run is not None:
                            try:
                                run.stream.put(active_line(int(line[1:])))
                            except ValueError:
                                pass
                        elif line.startswith(b"D") and run is not None:
                            while True:  # everything the code wrote is already in the pipe
                                try:
                                    data = os.read(out_fd, 65536)
                                except BlockingIOError:
                                    break
                                if not data:
                                    break
                                self._deliver(run, data)
                            try:
                                run.status = int(line[1:])
                            except ValueError:
                                run.status = 1
                            self._finish(run)
                            run = None
                if not ready and run is not None and not run.asking and READ_SYSCALL is not None:
                    if time.monotonic() - run.last_output > 0.15 and self._waiting_for_input(proc, run):
                        run.asking = True
                        run.stream.put(Control("input", prompt=run.tail, password=False))
        except (OSError, ValueError):
            pass
        run = self._run
        if run is not None and not run.done.is_set():
            try:
                code = proc.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            run.stream.put_text(f"The shell exited (status {code}); a new shell will start on the next run.\n")
            self._finish(run)

    def _deliver(self, run: _ShellRun, data: bytes) -> None:
        text = strip_ansi(data.decode(errors="replace"))
        run.last_output = time.monotonic()
        cut = text.rfind("\n")
        run.tail = (run.tail + text)[-200:] if cut < 0 else text[cut + 1:][-200:]
        run.stream.put_text(text)

    def _finish(self, run: _ShellRun) -> None:
        if run.status and not run.stopped:
            run.stream.put_text(f"Exit status: {run.status}\n")
        run.close_input()
        run.done.set()
        run.stream.close()

    def _waiting_for_input(self, proc: subprocess.Popen[bytes], run: _ShellRun) -> bool:
        """Is a process of this shell blocked in read() on the run's input FIFO?"""
        try:
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat", "rb") as f:
                        fields = f.read().rsplit(b")", 1)[1].split()
                    if int(fields[3]) != proc.pid:  # session id
                        continue
                    with open(f"/proc/{entry}/syscall") as f:
                        parts = f.read().split()
                    if not parts or parts[0] != READ_SYSCALL:
                        continue
                    fd = int(parts[1], 16)
                    if os.readlink(f"/proc/{entry}/fd/{fd}") == run.fifo:
                        return True
                except (OSError, ValueError, IndexError):
                    continue
        except OSError:
            return False
        return False

    # ------------------------------------------------------------ the Language API

    async def astart(self) -> None:
        await asyncio.to_thread(self._ensure)

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        proc = self._proc if self._proc is not None and self._proc.poll() is None else await asyncio.to_thread(self._ensure)
        assert self._dir is not None and proc.stdin is not None
        script = os.path.join(self._dir, "run.sh")
        with open(script, "w") as f:
            f.write(code if code.endswith("\n") else code + "\n")
        fifo = os.path.join(self._dir, f"stdin-{time.monotonic_ns()}")
        os.mkfifo(fifo, 0o600)
        run = _ShellRun(RunStream(), fifo)
        self._run = run
        asking: asyncio.Task[None] | None = None
        try:
            command = f"__oi_run {_quote(script)} {_quote(fifo)}\n".encode()
            try:
                proc.stdin.write(command)
                proc.stdin.flush()
            except OSError:  # the shell exited since we last looked: start a new one
                await asyncio.to_thread(self._close_locked)
                proc = await asyncio.to_thread(self._ensure)
                assert proc.stdin is not None
                proc.stdin.write(command)
                proc.stdin.flush()
            async for event in run.stream.events():
                if isinstance(event, Control):
                    asking = asyncio.ensure_future(self._answer(run, io, event.data["prompt"]))
                    continue
                yield event
        finally:
            if asking is not None and not asking.done():
                asking.cancel()
            if not run.done.is_set():
                await self.astop()
            run.close_input()
            self._run = None
            try:
                os.unlink(fifo)
            except OSError:
                pass
        yield active_line(None)

    async def _answer(self, run: _ShellRun, io: RunIO, prompt: str) -> None:
        try:
            value = await io.request_input(prompt.strip(), False)
        except asyncio.CancelledError:
            raise
        except Exception:  # EOFError (nobody can answer) or anything else: end of input
            run.close_input()
            return
        if run.fifo_fd >= 0:
            try:
                os.write(run.fifo_fd, (str(value) + "\n").encode())
            except OSError:
                pass
        run.last_output = time.monotonic()
        run.asking = False

    async def astop(self) -> None:
        run, proc = self._run, self._proc
        if run is None or proc is None or run.done.is_set():
            return
        run.stopped = True
        for _ in range(6):
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except OSError:
                return
            if await asyncio.to_thread(run.done.wait, 0.06):
                return
        # Something ignores SIGINT: kill the shell; a fresh one starts on the next run.
        run.stream.put_text("The shell did not stop on interrupt, so it was killed; cd and variables were reset.\n")
        await asyncio.to_thread(self._close_locked)

    def _close_locked(self) -> None:
        with self._lock:
            self._close()

    async def aterminate(self) -> None:
        await asyncio.to_thread(self._close_locked)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _quote(path: str) -> str:
    return "'" + path.replace("'", "'\\''") + "'"
