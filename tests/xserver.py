"""Test helpers: a private Xvfb server and a Tk window showing known text and an entry field."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SCREEN = (1280, 800)
LABEL_TEXT = "HELLO OITUI"


class XServer:
    """Xvfb on a free display number (chosen by Xvfb itself via -displayfd)."""

    def __init__(self, width: int = SCREEN[0], height: int = SCREEN[1], number: int | None = None) -> None:
        """Xvfb on a display number it picks, or on `number` (to start a server again where one was)."""
        self.size = (width, height)
        read_fd, write_fd = os.pipe()
        where = [f":{number}"] if number is not None else []
        self.process = subprocess.Popen(
            ["Xvfb", *where, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten",
             "tcp", "-ac"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(write_fd)
        number = b""
        deadline = time.monotonic() + 20
        try:
            while not number.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                ready, _, _ = select.select([read_fd], [], [], max(0.0, remaining))
                if not ready:
                    raise RuntimeError("Xvfb did not report a display number within 20 seconds")
                chunk = os.read(read_fd, 64)
                if not chunk:
                    err = self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""
                    raise RuntimeError(f"Xvfb exited before starting: {err.strip()[-500:]}")
                number += chunk
        except BaseException:
            self.close()
            raise
        finally:
            os.close(read_fd)
        self.display = f":{int(number.strip())}"
        self._wait_ready(deadline)

    def _wait_ready(self, deadline: float) -> None:
        path = f"/tmp/.X11-unix/X{self.display[1:]}"
        while time.monotonic() < deadline:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return
            except OSError:
                time.sleep(0.05)
            finally:
                sock.close()
        self.close()
        raise RuntimeError(f"Xvfb on {self.display} does not accept connections")

    def restart(self) -> None:
        """Stop this server and start a new one on the same display number (a display that went away)."""
        self.close()
        self.__init__(*self.size, number=int(self.display[1:]))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()


def xserver_available() -> str | None:
    """None when Xvfb can be used, else the reason to skip."""
    if not shutil.which("Xvfb"):
        return "Xvfb is not installed (apt install xvfb)"
    return None


# The Tk app: a big white label with known text and an Entry; it reports geometry on stdout as JSON
# and writes the entry's content to a file on every change. stdin lines are commands.
TK_APP = r"""
import json, sys, threading, tkinter as tk
text, out_path = sys.argv[1], sys.argv[2]
root = tk.Tk()
root.title("oi-tui test window")
root.configure(bg="white")
root.geometry("1000x500+60+60")
label = tk.Label(root, text=text, font=("DejaVu Sans", 60, "bold"), bg="white", fg="black")
label.pack(pady=40)
value = tk.StringVar(master=root)
def save(*_):
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(value.get())
value.trace_add("write", save)
entry = tk.Entry(root, textvariable=value, font=("DejaVu Sans", 24), width=30, bg="white", fg="black")
entry.pack(pady=20)
commands = []
def reader():
    for line in sys.stdin:
        commands.append(line.rstrip("\r\n"))
threading.Thread(target=reader, daemon=True).start()
def geometry(widget):
    return [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]
def poll():
    while commands:
        command = commands.pop(0)
        if command == "focus":
            entry.focus_force()
        elif command == "select":
            entry.selection_range(0, "end")
            entry.focus_force()
        elif command.startswith("set "):
            value.set(command[4:])
        elif command == "quit":
            root.destroy()
            return
        print(json.dumps({"done": command}), flush=True)
    root.after(30, poll)
def ready():
    root.update_idletasks()
    entry.focus_force()
    print(json.dumps({"label": geometry(label), "entry": geometry(entry)}), flush=True)
    poll()
root.after(300, ready)
root.mainloop()
"""


class TkWindow:
    def __init__(self, server: XServer, workdir: Path, text: str = LABEL_TEXT) -> None:
        self.entry_file = workdir / "entry.txt"
        self.entry_file.write_text("")
        self.process = subprocess.Popen(
            [sys.executable, "-c", TK_APP, text, str(self.entry_file)],
            env=server.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        info = self._read_line(20)
        self.label = tuple(info["label"])
        self.entry = tuple(info["entry"])

    def _read_line(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError("the Tk test window did not answer in time")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Tk test window exited: {self.process.stderr.read()[-800:]}")
        return json.loads(line)

    def command(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        self._read_line(10)

    @staticmethod
    def center(rect: tuple[int, int, int, int]) -> tuple[int, int]:
        return (rect[0] + rect[2] // 2, rect[1] + rect[3] // 2)

    def entry_text(self, expected: str | None = None, timeout: float = 5.0) -> str:
        """The entry's content (waiting up to `timeout` for it to equal `expected`)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.entry_file.read_text(encoding="utf-8")
            if expected is None or text == expected or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(timeout=3)
            except Exception:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except Exception:
                pass


def pointer_location(display: str) -> tuple[int, int]:
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return int(values["X"]), int(values["Y"])
