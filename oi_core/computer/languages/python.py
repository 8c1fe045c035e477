"""Python in a real IPython kernel (jupyter_client + ipykernel).

One thread per kernel owns the zmq sockets (shell, iopub, stdin): it sends requests handed to it and routes
every incoming message to the run it belongs to (by parent msg_id) through a `RunStream`, so the runner
works under any asyncio loop. The kernel is started by `astart()` (the session warms it up in the
background) and restarted on the next run if it died.

The active line is found without touching the user's code: a small helper inside the kernel samples the
executing thread's stack ~30 times a second, looks for the frame that belongs to the current cell and
publishes the line when it changes (a `comm_msg` on iopub). The cell runs unmodified, so tracebacks keep
the user's own line numbers and a tight loop runs at full speed.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

from ..base import Language, RunIO
from ._procs import children, end_processes, end_reachable, now_ticks, reachable
from ._stream import (
    OUTPUT_BUDGET,
    OUTPUT_TAIL,
    OUTPUT_WINDOW,
    Control,
    Finished,
    OutputCleaner,
    RunStream,
    StopOnce,
    active_line,
    failed_outcome,
    first_code_line,
    output,
    strip_ansi,
)

COMM_ID = "oi-active-line"
EOF_REPLY = "\x04"  # ipykernel raises EOFError in input() when it receives this
DIED = "The Python kernel died unexpectedly (exit code {code}); it will be restarted on the next run, so variables were lost."
KILLED = "The code ignored the interrupt, so the Python kernel was restarted and its variables were lost."
START_TIMEOUT = 60.0

# Installed once per kernel start (silently: no history, no execution count, no pre_run_cell event).
KERNEL_SETUP = r'''
def _oi_install():
    import sys, threading, time
    ip = get_ipython()
    kernel = ip.kernel
    try:
        ip.run_line_magic("xmode", "Plain")
    except Exception:
        pass
    try:
        ip.colors = "nocolor"
    except Exception:
        pass
    state = {"file": None, "parent": None, "tid": None, "gen": 0}
    cond = threading.Condition()

    def pre_run_cell(info):
        with cond:
            state["file"] = ip.compile.get_code_name(info.raw_cell, info.raw_cell, 0)
            state["parent"] = kernel.get_parent("shell")
            state["tid"] = threading.get_ident()
            state["gen"] += 1
            cond.notify()

    def post_run_cell(result):
        with cond:
            state["file"] = None

    def send(parent, line):
        kernel.session.send(kernel.iopub_socket, "comm_msg",
                            {"comm_id": "oi-active-line", "data": {"line": line}},
                            parent=parent, ident=b"comm-oi-active-line")

    def sample():
        frames = sys._current_frames
        while True:
            with cond:
                while state["file"] is None:
                    cond.wait()
                gen, name, parent, tid = state["gen"], state["file"], state["parent"], state["tid"]
            last = None
            time.sleep(0.003)
            while state["gen"] == gen and state["file"] is not None:
                frame = frames().get(tid)
                line = None
                while frame is not None:
                    if frame.f_code.co_filename == name:
                        line = frame.f_lineno
                        break
                    frame = frame.f_back
                del frame
                if line is not None and line != last and state["gen"] == gen and state["file"] is not None:
                    last = line
                    try:
                        send(parent, line)
                    except Exception:
                        pass
                time.sleep(1 / 30)

    # Output beyond OUT_BUDGET characters per OUT_WINDOW seconds (1 MB/s, as the other runners) is not
    # sent: it is counted, its last OUT_TAIL characters are kept, and both are sent when the window ends
    # or the cell finishes. This keeps a program printing gigabytes from costing gigabytes.
    OUT_BUDGET, OUT_WINDOW, OUT_TAIL = @OUTPUT_BUDGET@, @OUTPUT_WINDOW@, @OUTPUT_TAIL@
    monotonic = time.monotonic

    def limit(stream):
        original = stream.write
        held = {"start": 0.0, "sent": 0, "diverted": 0, "tail": ""}
        lock = threading.Lock()

        def release():
            if not held["diverted"]:
                return ""
            tail, skipped = held["tail"], held["diverted"] - len(held["tail"])
            held["diverted"], held["tail"] = 0, ""
            return f"\n[... {skipped:,} characters of output skipped ...]\n{tail}" if skipped else tail

        def write(text):
            if type(text) is not str:
                return original(text)
            if not held["diverted"]:  # the common case, kept cheap: within budget, in the current window
                sent = held["sent"] + len(text)
                if sent <= OUT_BUDGET and monotonic() - held["start"] < OUT_WINDOW:
                    held["sent"] = sent
                    return original(text)
            with lock:
                now = time.monotonic()
                out = ""
                if now - held["start"] >= OUT_WINDOW:
                    out = release()
                    held["start"], held["sent"] = now, 0
                room = OUT_BUDGET - held["sent"] - len(out)
                if not held["diverted"] and len(text) <= room:
                    out += text
                else:
                    kept = text[: max(room, 0)] if not held["diverted"] else ""
                    out += kept
                    rest = len(text) - len(kept)
                    held["diverted"] += rest
                    held["tail"] = (held["tail"] + text[len(text) - min(rest, OUT_TAIL):])[-OUT_TAIL:]
                held["sent"] += len(out)
            if out:
                original(out)
            return len(text)

        def finish():
            with lock:
                out = release()
                held["start"] = 0.0
            if out:
                original(out)

        stream.write = write
        return finish

    finishers = []

    def limit_output(info):
        # Installed for each cell: IPython wraps stream.write around every cell and restores it after.
        finishers[:] = [limit(s) for s in (sys.stdout, sys.stderr) if s is not None and hasattr(s, "session")]

    def release_held(result):
        for finish in finishers:
            try:
                finish()
            except Exception:
                pass
        finishers.clear()
        try:
            ip.history_manager.outputs.clear()  # IPython keeps every cell's output there; nothing here reads it
        except Exception:
            pass

    ip.events.register("pre_run_cell", pre_run_cell)
    ip.events.register("pre_run_cell", limit_output)
    ip.events.register("post_run_cell", post_run_cell)
    ip.events.register("post_run_cell", release_held)
    threading.Thread(target=sample, name="oi-active-line", daemon=True).start()

_oi_install()
del _oi_install
'''.replace("@OUTPUT_BUDGET@", str(OUTPUT_BUDGET)).replace("@OUTPUT_WINDOW@", str(OUTPUT_WINDOW)).replace(
    "@OUTPUT_TAIL@", str(OUTPUT_TAIL)
)


class _Run:
    """Routing state for one execute request."""

    def __init__(self, stream: RunStream | None, first_line: int | None = None) -> None:
        self.stream = stream
        self.replied = False
        self.idle = False
        self.reply: dict[str, Any] = {}
        self.done = Finished()
        self.stopper = StopOnce()
        self.started = now_ticks()
        self.earlier: dict[int, int] = {}  # the kernel's children when the run began (earlier runs' processes)
        self.line = first_line  # the active line last reported
        self.cleaners: dict[str, OutputCleaner] = {}  # per stream name (stdout, stderr)
        self.errored = False
        self.died = False  # the kernel died under the run
        self.user_stopped = False
        self.killed = False

    @property
    def failed(self) -> bool:
        """The cell raised or the kernel died under it; a run the user stopped has not failed."""
        raised = self.errored or self.reply.get("status") == "error"
        return not self.user_stopped and (raised or self.died)

    def output(self, name: str, text: str) -> None:
        """Stream text, with escape sequences split between two messages removed whole."""
        assert self.stream is not None
        cleaner = self.cleaners.get(name)
        if cleaner is None:
            cleaner = self.cleaners[name] = OutputCleaner()
        self.stream.put_text(cleaner.feed(text))

    def finish(self) -> None:
        if not self.done.is_set():
            if self.stream is not None:
                for cleaner in self.cleaners.values():
                    self.stream.put_text(cleaner.finish())
            self.done.set()  # before close: a waiting stop resumes before the consumer sees the end
            if self.stream is not None:
                self.stream.close()


class _Tail:
    """Drains a pipe in a thread, keeping only its last few kilobytes (what a failing process said last)."""

    def __init__(self, fd: int, keep: int = 4096) -> None:
        self._fd = fd
        self._keep = keep
        self._data = b""
        threading.Thread(target=self._drain, name="oi-kernel-stderr", daemon=True).start()

    def _drain(self) -> None:
        try:
            while chunk := os.read(self._fd, 65536):
                self._data = (self._data + chunk)[-self._keep :]
        except OSError:
            pass
        finally:
            os.close(self._fd)

    def said(self) -> str:
        """The last line the process wrote, as " It said: …", or ""."""
        lines = [line.strip() for line in strip_ansi(self._data.decode(errors="replace")).splitlines() if line.strip()]
        return f" It said: {lines[-1][:300]}" if lines else ""


class Kernel:
    """A started IPython kernel plus the thread that talks to it."""

    def __init__(self) -> None:
        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3", transport="ipc", ip=_ipc_path())
        self.km.shutdown_wait_time = 2.0
        self.session: Any = None
        self._sockets: dict[str, Any] = {}
        self._outbox: queue.Queue[tuple[str, dict[str, Any], _Run | None]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._runs: dict[str, _Run] = {}
        self._thread: threading.Thread | None = None
        self._closing = False
        self.exit_code: int | None = None
        self.reported_death = False
        self._iopub_seen = threading.Event()
        self._stdin_ready = threading.Event()
        self._stderr: _Tail | None = None

    # ------------------------------------------------------------ lifecycle (blocking; call in a thread)

    def start(self) -> None:
        env = dict(os.environ)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        env.pop("PYTEST_CURRENT_TEST", None)  # ipykernel skips capturing fd-level output when it sees this
        # The kernel never gets the app's terminal: stdin is /dev/null, it leads its own session (the launcher
        # starts it so), and code writing to file descriptors 1 and 2 (os.system, subprocesses, C libraries)
        # is captured by ipykernel and sent as output. ipykernel also copies that output to the kernel's
        # original stdout/stderr: those are /dev/null and a pipe we drain (its end explains a failed start).
        stderr_r, stderr_w = os.pipe()
        try:
            self.km.start_kernel(
                env=env,
                extra_arguments=["--HistoryManager.enabled=False", "--IPKernelApp.capture_fd_output=True"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr_w,
            )
        except BaseException:
            os.close(stderr_r)
            raise
        finally:
            os.close(stderr_w)
        self._stderr = _Tail(stderr_r)
        _LIVE.add(self)
        import zmq

        self.session = self.km.session
        self._sockets = {
            # shell and stdin share one identity so the kernel can route input requests back to us
            "shell": self.km.connect_shell(identity=self.session.bsession),
            "iopub": self.km.connect_iopub(),
            "stdin": self._connect_watched("stdin", zmq),
        }
        self._zmq = zmq
        self._thread = threading.Thread(target=self._serve, name="oi-python-kernel", daemon=True)
        self._thread.start()
        # Wait until the kernel answers and iopub is connected (zmq subscriptions take a moment).
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            probe = _Run(None)
            self.send("shell", self.session.msg("kernel_info_request", {}), probe)
            probe.done.wait(0.25)
            if probe.replied and self._iopub_seen.is_set():
                break
            if self.exit_code is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The Python kernel did not start.{self._stderr.said() if self._stderr else ''}")
        # The kernel's stdin ROUTER silently drops an input() request sent before our socket finished its
        # handshake, which would leave input() waiting forever: wait for that handshake explicitly.
        if not self._stdin_ready.wait(max(0.0, deadline - time.monotonic())):
            raise RuntimeError("The Python kernel's input channel did not connect.")
        setup = _Run(None)
        self.send("shell", self.execute_msg(KERNEL_SETUP, silent=True), setup)
        if not setup.done.wait(START_TIMEOUT) or setup.reply.get("status") != "ok":
            raise RuntimeError(f"Could not prepare the Python kernel: {setup.reply}")

    def _connect_watched(self, channel: str, zmq: Any) -> Any:
        """Connect a channel socket with a monitor attached first, so its handshake cannot be missed."""
        from zmq.utils.monitor import recv_monitor_message

        sock = self.km.context.socket(zmq.DEALER)
        sock.linger = 1000
        sock.identity = self.session.bsession  # shared with shell so the kernel routes input requests to us
        if getattr(self.km, "curve_publickey", None) is not None:  # encrypted transport, as jupyter_client does
            sock.curve_secretkey = self.km.curve_secretkey
            sock.curve_publickey = sock.curve_serverkey = self.km.curve_publickey
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)

        def watch() -> None:
            try:
                if monitor.poll(int(START_TIMEOUT * 1000)):
                    recv_monitor_message(monitor)
                    self._stdin_ready.set()
            except zmq.ZMQError:
                pass
            finally:
                monitor.close(linger=0)  # only the monitor's own end: `sock` belongs to the socket thread

        threading.Thread(target=watch, name=f"oi-kernel-{channel}-monitor", daemon=True).start()
        sock.connect(self.km._make_url(channel))
        return sock

    def execute_msg(self, code: str, silent: bool = False) -> dict[str, Any]:
        return self.session.msg(
            "execute_request",
            {
                "code": code,
                "silent": silent,
                "store_history": not silent,
                "user_expressions": {},
                "allow_stdin": not silent,
                "stop_on_error": True,
            },
        )

    def shutdown(self) -> None:
        self._closing = True
        pid = self.pid
        try:
            if pid is not None:  # what the code started and left running goes first
                end_processes(reachable(pid), grace=0.2)
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
        except Exception:
            pass
        finally:
            self._kill_group(signal.SIGKILL)
            if pid is not None:
                end_reachable(pid, grace=0)
            self._wake()
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(2)
            _cleanup(self)
            _LIVE.discard(self)

    # ------------------------------------------------------------ signals

    @property
    def pid(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None)
        return process.pid if process is not None else None

    def _kill_group(self, signum: int) -> None:
        pid = self.pid
        if pid is None:
            return
        try:
            os.killpg(os.getpgid(pid), signum)
        except (ProcessLookupError, PermissionError, OSError):
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    def interrupt(self) -> None:
        self._kill_group(signal.SIGINT)

    def kill(self) -> None:
        self._kill_group(signal.SIGKILL)

    def alive(self) -> bool:
        process = getattr(self.km.provisioner, "process", None)
        if process is None:
            return False
        code = process.poll()
        if code is not None:
            self.exit_code = code
            return False
        return True

    # ------------------------------------------------------------ the socket thread

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def send(self, channel: str, msg: dict[str, Any], run: _Run | None = None) -> None:
        """Queue a message for the socket thread; replies are routed to `run`."""
        self._outbox.put((channel, msg, run))
        self._wake()

    def _serve(self) -> None:
        zmq = self._zmq
        poller = zmq.Poller()
        by_socket = {}
        for name, sock in self._sockets.items():
            poller.register(sock, zmq.POLLIN)
            by_socket[sock] = name
        poller.register(self._wake_r, zmq.POLLIN)
        try:
            while not self._closing:
                try:
                    ready = dict(poller.poll(100))
                except zmq.ZMQError:
                    if self._closing:
                        return  # sockets torn down by shutdown or interpreter exit
                    raise
                if self._wake_r in ready:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                while True:
                    try:
                        channel, msg, run = self._outbox.get_nowait()
                    except queue.Empty:
                        break
                    if run is not None:
                        self._runs[msg["header"]["msg_id"]] = run
                    self.session.send(self._sockets[channel], msg)
                for sock, name in by_socket.items():
                    if sock not in ready:
                        continue
                    while True:
                        try:
                            idents, parts = self.session.feed_identities(sock.recv_multipart(zmq.NOBLOCK), copy=True)
                            msg = self.session.deserialize(parts, content=True, copy=True)
                        except zmq.Again:
                            break
                        except Exception:
                            continue
                        self._dispatch(name, msg)
                if not ready and (self._runs or self.exit_code is None) and not self.alive():
                    self._kernel_died()
                    return
        finally:
            for sock in self._sockets.values():
                try:
                    sock.close(linger=0)
                except Exception:
                    pass
            for fd in (self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _kernel_died(self) -> None:
        for run in list(self._runs.values()):
            if run.stream is not None and not run.done.is_set():
                self.reported_death = True
                run.died = True
                run.stream.put_text((KILLED if run.killed else DIED.format(code=self.exit_code)) + "\n")
            run.finish()
        self._runs.clear()

    def _dispatch(self, channel: str, msg: dict[str, Any]) -> None:
        if channel == "iopub":
            self._iopub_seen.set()
        parent_id = (msg.get("parent_header") or {}).get("msg_id")
        run = self._runs.get(parent_id) if parent_id else None
        if run is None:
            return
        kind = msg["header"]["msg_type"]
        content = msg.get("content") or {}
        stream = run.stream
        if channel == "shell":
            if kind.endswith("_reply"):
                run.replied = True
                run.reply = content
                if kind != "execute_reply" or run.idle:
                    self._complete(parent_id, run)
            return
        if channel == "stdin":
            if kind == "input_request" and stream is not None:
                stream.put(Control("input", msg=msg, prompt=content.get("prompt", ""), password=bool(content.get("password"))))
            elif kind == "input_request":
                self.send("stdin", self.session.msg("input_reply", {"value": EOF_REPLY}, parent=msg))
            return
        if kind == "status":
            if content.get("execution_state") == "idle":
                run.idle = True
                if run.replied:
                    self._complete(parent_id, run)
            return
        if stream is None:
            if kind == "error":
                run.errored = True
            return
        if kind == "stream":
            run.output(str(content.get("name") or "stdout"), content.get("text", ""))
        elif kind in ("display_data", "execute_result", "update_display_data"):
            for chunk in rich_chunks(content.get("data") or {}):
                if chunk["type"] == "console":
                    stream.put_text(chunk["content"])
                else:
                    stream.put(chunk)
        elif kind == "error":
            run.errored = True
            if run.user_stopped and content.get("ename") == "KeyboardInterrupt":
                return
            text = re.sub(r"\n\s*\n", "\n", strip_ansi("\n".join(content.get("traceback") or [])))
            if not text:
                text = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            stream.put_text(text.rstrip("\n") + "\n")
        elif kind == "comm_msg" and content.get("comm_id") == COMM_ID:
            line = (content.get("data") or {}).get("line")
            if isinstance(line, int) and line != run.line:
                run.line = line
                stream.put(active_line(line))
        elif kind == "clear_output":
            pass

    def _complete(self, msg_id: str, run: _Run) -> None:
        self._runs.pop(msg_id, None)
        run.finish()


def _ipc_path() -> str:
    """A private, short socket path prefix for the ipc transport (TCP would warn about plaintext)."""
    directory = tempfile.mkdtemp(prefix="oi-kernel-")
    return os.path.join(directory, uuid.uuid4().hex[:8])


def rich_chunks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """LMC chunks for a Jupyter mime bundle: an image, else html, else plain text."""
    if "image/png" in data:
        return [{"type": "image", "format": "base64.png", "content": _b64(data["image/png"])}]
    if "image/jpeg" in data:
        return [{"type": "image", "format": "base64.jpeg", "content": _b64(data["image/jpeg"])}]
    chunks: list[dict[str, Any]] = []
    text = data.get("text/plain")
    if isinstance(text, list):
        text = "".join(text)
    if "text/html" in data:
        html = data["text/html"]
        chunks.append({"type": "code", "format": "html", "content": "".join(html) if isinstance(html, list) else html})
        if text and not (text.startswith("<") and text.endswith(" object>")):
            chunks.append(output(strip_ansi(text).rstrip("\n") + "\n"))
        return chunks
    if text:
        chunks.append(output(strip_ansi(text).rstrip("\n") + "\n"))
    return chunks


def _b64(value: Any) -> str:
    return "".join(value.split()) if isinstance(value, str) else str(value)


_LIVE: weakref.WeakSet[Kernel] = weakref.WeakSet()


@atexit.register
def end_live_kernels() -> None:
    """Kill every kernel of this process and what it started, and remove their files (blocking; at exit)."""
    for kernel in list(_LIVE):
        kernel._closing = True
        pid = kernel.pid
        kernel._kill_group(signal.SIGKILL)
        if pid is not None:
            end_reachable(pid, grace=0)
        kernel._wake()
        if kernel._thread is not None:
            kernel._thread.join(1)
        _cleanup(kernel)


def _cleanup(kernel: Kernel) -> None:
    try:
        kernel.km.cleanup_resources()
    except Exception:
        pass
    directory = os.path.dirname(kernel.km.ip or "")
    if os.path.basename(directory).startswith("oi-kernel-"):
        shutil.rmtree(directory, ignore_errors=True)


class Python(Language):
    name = "python"
    aliases = ("py", "python3", "ipython")
    file_extension = "py"
    install_hint = "Install ipykernel and jupyter_client (pip install ipykernel jupyter_client)."

    def __init__(self, computer: Any = None) -> None:
        super().__init__(computer)
        self._kernel: Kernel | None = None
        self._starting: threading.Lock = threading.Lock()
        self._run: _Run | None = None

    def missing_runtime(self) -> str | None:
        # Found, not imported: importing them takes a while and happens later, in the thread that starts the kernel.
        if importlib.util.find_spec("ipykernel") is None or importlib.util.find_spec("jupyter_client") is None:
            return "Python needs ipykernel and jupyter_client; install them with `pip install ipykernel jupyter_client`."
        return None

    # ------------------------------------------------------------ kernel lifecycle

    def _ensure_kernel(self) -> Kernel:
        """Blocking: the running kernel, starting (or restarting after a death) as needed."""
        with self._starting:
            kernel = self._kernel
            if kernel is not None and kernel.exit_code is None and kernel.alive():
                return kernel
            if kernel is not None:
                self._kernel = None
                kernel.shutdown()
            kernel = Kernel()
            try:
                kernel.start()
            except BaseException:
                kernel.shutdown()
                raise
            self._kernel = kernel
            return kernel

    def _wants_computer_api(self) -> bool:
        computer = self.computer
        interpreter = getattr(computer, "interpreter", None)
        return computer is not None and bool(computer.import_computer_api or getattr(interpreter, "os", False))

    def _bootstrap_computer_api(self, kernel: Kernel) -> None:
        """Blocking: define `computer` inside the kernel once (OS mode / import_computer_api)."""
        from ..kernel_bootstrap import bootstrap_code

        interpreter = getattr(self.computer, "interpreter", None)
        vision = interpreter.llm.uses_vision() if interpreter is not None else None
        setup = _Run(None)
        kernel.send("shell", kernel.execute_msg(bootstrap_code(vision, self.computer.emit_images), silent=True), setup)
        setup.done.wait(START_TIMEOUT)
        kernel.computer_api_ready = True

    def _ready_kernel(self) -> Kernel:
        kernel = self._ensure_kernel()
        if self._wants_computer_api() and not getattr(kernel, "computer_api_ready", False):
            self._bootstrap_computer_api(kernel)
        return kernel

    async def astart(self) -> None:
        await asyncio.to_thread(self._ready_kernel)

    async def aterminate(self) -> None:
        def stop() -> None:
            with self._starting:  # a kernel still starting (warm-up) is shut down too, never orphaned
                kernel, self._kernel = self._kernel, None
            if kernel is not None:
                kernel.shutdown()

        await asyncio.to_thread(stop)

    async def astop(self) -> None:
        run, kernel = self._run, self._kernel
        if run is None or kernel is None or run.done.is_set():
            return
        await run.stopper.stop(lambda: self._stop(run, kernel))

    async def _stop(self, run: _Run, kernel: Kernel) -> None:
        """Interrupt the code (variables survive); then end the processes it started and left running."""
        pid = kernel.pid
        run.user_stopped = True
        started = await asyncio.to_thread(reachable, pid, run.started, run.earlier) if pid is not None else {}
        kernel.interrupt()
        # Keep interrupting briefly (the first SIGINT can land between bytecodes that swallow it).
        for _ in range(8):
            if await run.done.until_set(0.05):
                break
            kernel.interrupt()
        else:
            # The code swallows KeyboardInterrupt: end it the hard way (the next run gets a fresh kernel).
            run.killed = True
            kernel.kill()
            await run.done.until_set(1.0)
        if pid is not None:  # subprocesses in their own group or ignoring SIGINT
            await asyncio.to_thread(end_reachable, pid, run.started, run.earlier, started)

    # ------------------------------------------------------------ running

    async def arun(self, code: str, io: RunIO) -> AsyncIterator[dict[str, Any]]:
        kernel = self._kernel
        needs_api = self._wants_computer_api() and not getattr(kernel, "computer_api_ready", False)
        dead = kernel is not None and (kernel.exit_code is not None or not kernel.alive())
        if kernel is None or dead or needs_api:
            lost = dead and not kernel.reported_death  # type: ignore[union-attr]
            kernel = await asyncio.to_thread(self._ready_kernel)
            if lost:
                yield output("The Python kernel had stopped since the last run; a new one was started, so variables were reset.\n")
        stream = RunStream()
        run = _Run(stream, first_code_line(code))
        if kernel.pid is not None:
            run.earlier = children(kernel.pid)
        self._run = run
        if run.line is not None:
            yield active_line(run.line)
        kernel.send("shell", kernel.execute_msg(code), run)
        input_task: asyncio.Task[None] | None = None
        try:
            async for event in stream.events():
                if isinstance(event, Control):
                    if event.kind == "input":
                        input_task = asyncio.ensure_future(self._answer(kernel, io, event, run))
                    continue
                yield event
        finally:
            if input_task is not None and not input_task.done():
                input_task.cancel()
            if not run.done.is_set():
                # The consumer went away (cancelled): stop the code so the kernel is free for the next run.
                run.user_stopped = True
                kernel.interrupt()
            await run.stopper.settled()
            self._run = None
        if run.failed:
            yield failed_outcome()
        yield active_line(None)

    async def _answer(self, kernel: Kernel, io: RunIO, event: Control, run: _Run) -> None:
        try:
            value = await io.request_input(event.data["prompt"], event.data["password"])
        except EOFError:
            value = EOF_REPLY
        except asyncio.CancelledError:
            raise
        except Exception:
            value = EOF_REPLY
        if not run.done.is_set():
            reply = kernel.session.msg("input_reply", {"value": str(value)}, parent=event.data["msg"])
            kernel.send("stdin", reply)

