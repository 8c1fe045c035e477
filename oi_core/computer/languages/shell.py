"""A persistent bash: `cd`, variables and functions survive between runs.

Each run's code is written to a file and `source`d by a helper function in the long-lived bash, so the
user's line numbers are the file's. A DEBUG trap (inherited into the sourced file with `set -T`) reports
line changes on a private pipe (fd 3) together with the final exit status, so nothing is injected into
the user's code or output. Stop sends SIGINT to bash's process group; an INT trap makes the sourced
code return, leaving the shell alive; then whatever the run started that is still running (background
jobs, `nohup`) is ended. The code's stdin is a per-run FIFO: when a process of the shell is seen blocked
reading it (Linux /proc) with no answer left unread, the caller is asked for a line; EOF closes it. bash
prints `read -p` prompts only on a terminal, so a `read` function shows the prompt as output (and marks
`-s` reads as secret).
bash leads its own session with no controlling terminal: nothing it runs can reach the app's terminal.
A block failed when its exit status is not 0: like a script's, that is the status of the last command it
ran (`false; echo ok` succeeded, `echo ok; false` failed; `exit N` ends the shell with N). A stopped block
never counts as failed.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import os
import platform
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from ..base import Language, RunIO
from ._procs import children, end_processes, end_reachable, now_ticks, reachable
from ._stream import (
    Control,
    Finished,
    RunStream,
    StopOnce,
    ThrottledCleaner,
    active_line,
    failed_outcome,
    first_code_line,
)

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
read() {
  local __oi_a __oi_o __oi_c __oi_p= __oi_s= __oi_next=
  for __oi_a in "$@"; do
    if [[ -n $__oi_next ]]; then [[ $__oi_next == p ]] && __oi_p=$__oi_a; __oi_next=; continue; fi
    case $__oi_a in
      --) break ;;
      -?*)
        __oi_o=${__oi_a#-}
        while [[ -n $__oi_o ]]; do
          __oi_c=${__oi_o:0:1}; __oi_o=${__oi_o:1}
          case $__oi_c in
            s) __oi_s=1 ;;
            [adinNptu]) if [[ -n $__oi_o ]]; then [[ $__oi_c == p ]] && __oi_p=$__oi_o; else __oi_next=$__oi_c; fi; break ;;
          esac
        done ;;
      *) break ;;
    esac
  done
  [[ -n $__oi_s ]] && printf 'S\n' >&3
  [[ -n $__oi_p ]] && printf '%s' "$__oi_p" >&2
  builtin read "$@"
}
"""

READ_SYSCALL = {"x86_64": "0", "aarch64": "63", "arm64": "63"}.get(platform.machine())


class _ShellRun:
    def __init__(self, stream: RunStream, fifo: str, first_line: int | None) -> None:
        self.stream = stream
        self.fifo = fifo
        self.fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        self.done = Finished()
        self.stopper = StopOnce()
        self.started = now_ticks()
        self.earlier: dict[int, int] = {}  # the shell's children when the run began (earlier runs' jobs)
        self.cleaner = ThrottledCleaner()
        self.line = first_line  # the active line last reported
        self.secret = False  # the next input is a `read -s`
        self.status: int | None = None
        self.last_output = time.monotonic()
        self.tail = ""  # the unfinished last line of output: a likely prompt
        self.asking = False
        self.stopped = False

    @property
    def failed(self) -> bool:
        """The block's exit status (its last command's, as for a script) is not 0, or the shell exited with
        a non-zero status or died; a run the user stopped has not failed."""
        return not self.stopped and self.status != 0

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
                preexec_fn=_interruptible,
                env=env,
            )
            os.close(ctl_w)
            self._ctl = ctl_r
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"exec 3>&{ctl_w} {ctl_w}>&-\n".encode() + BASH_SETUP.encode())
            self._proc.stdin.flush()
            _LIVE.add(self)
            self._reader = threading.Thread(target=self._read, args=(self._proc, ctl_r), name="oi-shell", daemon=True)
            self._reader.start()
            return self._proc

    def _close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:  # first what it started, wherever it went in the session
                end_processes(reachable(proc.pid), grace=0.2)
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
                                number = int(line[1:])
                            except ValueError:
                                continue
                            if number != run.line:
                                run.line = number
                                run.stream.put(active_line(number))
                        elif line == b"S" and run is not None:
                            run.secret = True
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
                if not ready and run is not None:  # quiet: release output held back by the budget
                    run.stream.put_text(run.cleaner.poll())
                if not ready and run is not None and not run.asking and READ_SYSCALL is not None:
                    if time.monotonic() - run.last_output > 0.15 and self._waiting_for_input(proc, run):
                        run.asking = True
                        run.stream.put(Control("input", prompt=run.tail, password=run.secret))
        except (OSError, ValueError):
            pass
        run = self._run
        if run is not None and not run.done.is_set():
            try:
                code = proc.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            run.status = code if code is not None else -1  # `exit N` in the block ends the shell: N is its status
            run.stream.put_text(f"The shell exited (status {code}); a new shell will start on the next run.\n")
            self._finish(run, shell_exited=True)

    def _deliver(self, run: _ShellRun, data: bytes) -> None:
        text = run.cleaner.feed(data)
        run.last_output = time.monotonic()
        cut = text.rfind("\n")
        run.tail = (run.tail + text)[-200:] if cut < 0 else text[cut + 1:][-200:]
        run.stream.put_text(text)

    def _finish(self, run: _ShellRun, shell_exited: bool = False) -> None:
        run.stream.put_text(run.cleaner.finish())
        if run.status and not run.stopped and not shell_exited:
            run.stream.put_text(f"Exit status: {run.status}\n")
        run.close_input()
        run.done.set()  # before close: a waiting stop resumes before the consumer sees the end
        run.stream.close()

    def _waiting_for_input(self, proc: subprocess.Popen[bytes], run: _ShellRun) -> bool:
        """Is a process of this shell blocked in read() on the run's input FIFO, with nothing left in it?"""
        if _unread(run.fifo_fd):  # an answer not consumed yet: the read that asked has not woken up
            return False
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

    def _prepare(self, code: str, stream: RunStream) -> tuple[subprocess.Popen[bytes], _ShellRun, str]:
        """Blocking (run in a thread): the shell, the code's file and its stdin FIFO."""
        proc = self._ensure()
        assert self._dir is not None
        script = os.path.join(self._dir, "run.sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write(code if code.endswith("\n") else code + "\n")
        fifo = os.path.join(self._dir, f"stdin-{time.monotonic_ns()}")
        os.mkfifo(fifo, 0o600)
        run = _ShellRun(stream, fifo, first_code_line(code))
        run.earlier = children(proc.pid)
        return proc, run, script

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        proc, run, script = await asyncio.to_thread(self._prepare, code, RunStream())
        assert proc.stdin is not None
        self._run = run
        asking: asyncio.Task[None] | None = None
        try:
            if run.line is not None:
                yield active_line(run.line)
            command = f"__oi_run {_quote(script)} {_quote(run.fifo)}\n".encode()
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
                    asking = asyncio.ensure_future(self._answer(run, io, event.data["prompt"], event.data["password"]))
                    continue
                yield event
        finally:
            if asking is not None and not asking.done():
                asking.cancel()
            if not run.done.is_set():
                await self.astop()
            await run.stopper.settled()
            run.close_input()
            self._run = None
            try:
                os.unlink(run.fifo)
            except OSError:
                pass
        if run.failed:
            yield failed_outcome()
        yield active_line(None)

    async def _answer(self, run: _ShellRun, io: RunIO, prompt: str, password: bool) -> None:
        try:
            value = await io.request_input(prompt.strip(), password)
        except asyncio.CancelledError:
            raise
        except Exception:  # EOFError (nobody can answer) or anything else: end of input
            run.close_input()
            return
        # Forget the answered prompt before the answer goes in: the next `read` may print its own prompt
        # (and mark itself secret) on the reader thread as soon as the line arrives.
        run.tail = ""
        run.secret = False
        run.last_output = time.monotonic()
        if run.fifo_fd >= 0:
            try:
                os.write(run.fifo_fd, (str(value) + "\n").encode())
            except OSError:
                pass
        run.asking = False

    async def astop(self) -> None:
        run, proc = self._run, self._proc
        if run is None or proc is None or run.done.is_set():
            return
        await run.stopper.stop(lambda: self._stop(run, proc))

    async def _stop(self, run: _ShellRun, proc: subprocess.Popen[bytes]) -> None:
        """Interrupt the code (the shell lives on), then end what the run started and left running."""
        run.stopped = True
        started = await asyncio.to_thread(reachable, proc.pid, run.started, run.earlier)  # while still its children
        for _ in range(6):
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except OSError:
                break
            if await run.done.until_set(0.06):
                break
        else:
            # Something ignores SIGINT: kill the shell; a fresh one starts on the next run.
            run.stream.put_text("The shell did not stop on interrupt, so it was killed; cd and variables were reset.\n")
            await asyncio.to_thread(self._close_locked)
        # Background jobs and `nohup` children ignore the interrupt: end those this run started.
        await asyncio.to_thread(end_reachable, proc.pid, run.started, run.earlier, started)

    def _close_locked(self) -> None:
        with self._lock:
            self._close()

    async def aterminate(self) -> None:
        await asyncio.to_thread(self._close_and_clean)

    def end_now(self) -> None:
        """Blocking, from any thread: end the shell and everything it started, remove its files."""
        self._close_and_clean()

    def _close_and_clean(self) -> None:
        """Blocking: end the shell and what it started, and remove its directory."""
        with self._lock:
            self._close()
            directory, self._dir = self._dir, None
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


_LIVE: weakref.WeakSet[Shell] = weakref.WeakSet()


@atexit.register
def end_live_shells() -> None:
    """End every shell of this process and its jobs, and remove their files (blocking; at exit)."""
    for shell in list(_LIVE):
        shell.end_now()


def _interruptible() -> None:
    """In the forked child: bash cannot trap a signal it was started ignoring, as it is when the app runs in
    the background of a script (`oi-tui --server &`); Stop's SIGINT must reach the run's trap."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _quote(path: str) -> str:
    return "'" + path.replace("'", "'\\''") + "'"


def _unread(fd: int) -> int:
    """Bytes written to the input FIFO that no read has taken yet (0 when it is closed)."""
    if fd < 0:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0
