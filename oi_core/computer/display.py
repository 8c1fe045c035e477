"""`computer.display`: the screen (screenshots, size, the text on it), and the checks every screen part shares."""

from __future__ import annotations

import base64
import io
import os
import re
import socket
import sys
import time
from typing import Any

from .errors import ComputerError, NoDisplayError, PermissionDeniedError

IS_MAC = sys.platform == "darwin"
IS_WINDOWS = sys.platform.startswith("win")
_PROBE_TIMEOUT = 2.0


# ---------------------------------------------------------------- is there a screen?


def uses_vision(computer: Any, override: bool | None = None) -> bool:
    """Whether screenshots go to the model as images (else as OCR text)."""
    if override is not None:
        return bool(override)
    if computer is not None and not getattr(computer, "emit_images", True):
        return False
    interpreter = getattr(computer, "interpreter", None)
    if interpreter is None:
        return True
    try:
        return bool(interpreter.llm.uses_vision())
    except Exception:
        return False


def _no_display_message() -> str:
    if os.environ.get("WAYLAND_DISPLAY"):
        return (
            "No X display: DISPLAY is not set (this is a Wayland session without XWayland), "
            "so the screen, mouse and keyboard cannot be controlled."
        )
    return (
        "No display: DISPLAY is not set, so there is no screen to look at and no mouse or keyboard to control "
        "(run inside a desktop session, or start a virtual one with Xvfb and set DISPLAY)."
    )


def _x_endpoint(display: str) -> tuple[str, Any] | None:
    match = re.fullmatch(r"(?:(?P<host>[^:]*)/)?(?P<h>[^:]*):(?P<num>\d+)(?:\.\d+)?", display)
    if not match:
        return None
    host, number = match.group("h"), int(match.group("num"))
    if host in ("", "unix"):
        return ("unix", number)
    return ("tcp", (host, 6000 + number))


def probe_display(display: str) -> str | None:
    """None when an X server answers at `display`, else why not (a quick connect, never a hang)."""
    endpoint = _x_endpoint(display)
    if endpoint is None:
        return f"DISPLAY is set to '{display}', which is not a display name like ':0'."
    kind, where = endpoint
    if kind == "unix":
        candidates = [f"/tmp/.X11-unix/X{where}"]
        if sys.platform.startswith("linux"):
            candidates.append(f"\0/tmp/.X11-unix/X{where}")  # the abstract socket
        for path in candidates:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(_PROBE_TIMEOUT)
            try:
                sock.connect(path)
                return None
            except OSError:
                continue
            finally:
                sock.close()
        return f"No display: nothing answers at DISPLAY={display} (is the X server running?)."
    try:
        with socket.create_connection(where, timeout=_PROBE_TIMEOUT):
            return None
    except OSError as exc:
        return f"No display: the X server at DISPLAY={display} cannot be reached ({exc.strerror or exc})."


def require_display() -> None:
    """Raise NoDisplayError (one sentence) unless there is a screen to use."""
    if IS_MAC or IS_WINDOWS:
        return
    display = os.environ.get("DISPLAY")
    if not display:
        raise NoDisplayError(_no_display_message())
    problem = probe_display(display)
    if problem:
        raise NoDisplayError(problem)


def display_available() -> bool:
    try:
        require_display()
    except ComputerError:
        return False
    return True


def translate_error(exc: BaseException, action: str) -> ComputerError:
    """A library failure (mss, Xlib, pyautogui) as one clear sentence."""
    if isinstance(exc, ComputerError):
        return exc
    text = str(exc)
    lowered = text.lower()
    if "authoriz" in lowered or "xauth" in lowered or "permission" in lowered or "not permitted" in lowered or "access denied" in lowered:
        if IS_MAC:
            return PermissionDeniedError(
                f"macOS refused to let this program {action}: allow your terminal in System Settings > "
                "Privacy & Security (Screen Recording and Accessibility), then restart it."
            )
        return PermissionDeniedError(
            f"The display refused to let this program {action} (X authorization failed for DISPLAY="
            f"{os.environ.get('DISPLAY', '')}): check XAUTHORITY or run inside the desktop session."
        )
    if (
        isinstance(exc, ConnectionError)
        or type(exc).__name__ in ("ConnectionClosedError", "DisplayConnectionError")
        or "brokenpipeerror" in lowered
        or "connection closed" in lowered
    ):
        return NoDisplayError(
            f"Lost the connection to the X display (DISPLAY={os.environ.get('DISPLAY', '')}) while trying to "
            f"{action}; the next call connects again."
        )
    if "xopendisplay" in lowered or "can't connect" in lowered or "cannot connect" in lowered:
        return NoDisplayError(f"No display: could not connect to DISPLAY={os.environ.get('DISPLAY', '')} to {action}.")
    if type(exc).__name__ == "FailSafeException":
        return ComputerError(
            f"Could not {action}: the pointer is in a screen corner, which stops automation as a safety measure "
            "(move it away from the corner first)."
        )
    return ComputerError(f"Could not {action}: {text or type(exc).__name__}.")


_PG: Any = None
_PG_DISPLAY: str | None = None


def _ensure_xauthority() -> None:
    """python-xlib (under pyautogui) refuses to connect when the Xauthority file is missing, unlike libX11:
    point it at an empty file then, which means "no credentials" exactly as libX11 treats a missing one."""
    path = os.environ.get("XAUTHORITY") or os.path.join(os.path.expanduser("~"), ".Xauthority")
    if os.path.exists(path):
        return
    import tempfile

    empty = os.path.join(tempfile.gettempdir(), f"oi-no-xauthority-{os.getuid()}")
    if not os.path.exists(empty):
        # One entry for a host that does not exist (an empty file makes python-xlib print a warning).
        def field(data: bytes) -> bytes:
            return len(data).to_bytes(2, "big") + data

        entry = (256).to_bytes(2, "big") + field(b"oi-no-such-host") + field(b"65535")
        entry += field(b"MIT-MAGIC-COOKIE-1") + field(bytes(16))
        with open(empty, "wb") as handle:
            handle.write(entry)
    os.environ["XAUTHORITY"] = empty


def pyautogui_module() -> Any:
    """pyautogui, imported only once a display is known to exist (it fails at import without one).

    pyautogui keeps one X connection for the life of the process. It is checked before each use and
    opened again when DISPLAY changed or the X server went away and came back (a stale connection would
    otherwise fail with Xlib's own confusing errors).
    """
    global _PG, _PG_DISPLAY
    require_display()
    display = os.environ.get("DISPLAY")
    if not (IS_MAC or IS_WINDOWS):
        _ensure_xauthority()
    if _PG is None:
        try:
            import pyautogui
        except Exception as exc:  # Xlib raises its own errors at import time
            raise translate_error(exc, "control the mouse and keyboard") from exc
        pyautogui.PAUSE = 0.05
        _PG, _PG_DISPLAY = pyautogui, display
    elif not (IS_MAC or IS_WINDOWS) and (display != _PG_DISPLAY or not _x_connection_alive()):
        _reconnect_x(display)
    return _PG


def _x_backend() -> Any:
    return sys.modules.get("pyautogui._pyautogui_x11")


def _x_connection_alive() -> bool:
    """One round trip on pyautogui's X connection: False when the server behind it is gone."""
    backend = _x_backend()
    connection = getattr(backend, "_display", None)
    if connection is None:
        return True
    try:
        connection.get_input_focus()  # any request with a reply
        return True
    except Exception:  # a broken pipe, a closed connection, Xlib's own TypeError about it, ...
        return False


def _reconnect_x(display: str | None) -> None:
    """Point pyautogui at a fresh connection to `display`, or say in one sentence why that failed."""
    global _PG_DISPLAY
    backend = _x_backend()
    if backend is None:
        _PG_DISPLAY = display
        return
    from Xlib.display import Display as XDisplay
    from Xlib.error import ConnectionClosedError

    for attempt in range(3):
        try:
            fresh = XDisplay(display)
            break
        except Exception as exc:
            if isinstance(exc, ConnectionClosedError) and attempt < 2:  # a server still starting up reset it
                time.sleep(0.3)
                continue
            raise NoDisplayError(
                f"Lost the connection to the X display (DISPLAY={display}) and could not connect again: "
                f"{str(exc).strip() or type(exc).__name__}."
            ) from exc
    stale, backend._display = getattr(backend, "_display", None), fresh
    _PG_DISPLAY = display
    if stale is not None:
        try:
            stale.close()
        except Exception:
            pass


# ---------------------------------------------------------------- the display part


class Size(tuple):
    """(width, height); also callable, so `display.size` and `display.size()` both work."""

    def __call__(self) -> "Size":
        return self

    @property
    def width(self) -> int:
        return self[0]

    @property
    def height(self) -> int:
        return self[1]


def png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _in_ipython() -> Any:
    shell = sys.modules.get("IPython")
    if shell is None:
        return None
    try:
        from IPython import get_ipython

        return get_ipython()
    except Exception:
        return None


def _screenshot_class() -> type:
    from PIL import Image

    class Screenshot(Image.Image):
        """A PIL image of the screen that is shown once in a notebook/kernel, not twice."""

        _oi_shown = False

        def _repr_png_(self) -> bytes | None:  # IPython's rich display
            if self._oi_shown:
                return None
            return super()._repr_png_()

        def _repr_jpeg_(self) -> None:  # one image per screenshot: PNG only
            return None

        def __repr__(self) -> str:
            return f"<screenshot {self.width}x{self.height}>"

        def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
            printer.text(repr(self))

    return Screenshot


_SCREENSHOT: type | None = None


class Display:
    def __init__(self, computer: Any = None) -> None:
        self.computer = computer
        self.vision: bool | None = None  # None: ask the interpreter's model (standalone: images)

    # ------------------------------------------------------------ geometry

    def _monitor(self, screen: int = 0) -> dict[str, int]:
        require_display()
        try:
            import mss

            with mss.mss() as grabber:
                monitors = grabber.monitors
        except Exception as exc:
            raise translate_error(exc, "read the screen size") from exc
        screens = monitors[1:] or monitors[:1]
        if not 0 <= screen < len(screens):
            raise ComputerError(f"There is no screen {screen}: this computer has {len(screens)} (numbered from 0).")
        return dict(screens[screen])

    @property
    def size(self) -> Size:
        monitor = self._monitor()
        return Size((int(monitor["width"]), int(monitor["height"])))

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def center(self) -> tuple[int, int]:
        monitor = self._monitor()
        return (int(monitor["left"] + monitor["width"] // 2), int(monitor["top"] + monitor["height"] // 2))

    # ------------------------------------------------------------ pictures

    def screenshot(self, screen: int = 0, quadrant: int | None = None, combine_screens: bool = False) -> Any:
        """The screen as a PIL image (pixels; on HiDPI screens larger than the point size)."""
        require_display()
        try:
            import mss
            from PIL import Image

            with mss.mss() as grabber:
                monitors = grabber.monitors
                if combine_screens:
                    monitor = monitors[0]
                else:
                    screens = monitors[1:] or monitors[:1]
                    if not 0 <= screen < len(screens):
                        raise ComputerError(
                            f"There is no screen {screen}: this computer has {len(screens)} (numbered from 0)."
                        )
                    monitor = screens[screen]
                shot = grabber.grab(monitor)
                image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
        except ComputerError:
            raise
        except Exception as exc:
            raise translate_error(exc, "take a screenshot") from exc
        if quadrant is not None:
            if quadrant not in (1, 2, 3, 4):
                raise ComputerError("quadrant must be 1 (top left), 2 (top right), 3 (bottom left) or 4 (bottom right).")
            w, h = image.width // 2, image.height // 2
            x = w if quadrant in (2, 4) else 0
            y = h if quadrant in (3, 4) else 0
            image = image.crop((x, y, x + w, y + h))
        return image

    def _uses_vision(self) -> bool:
        return uses_vision(self.computer, self.vision)

    def view(self, show: bool = True, quadrant: int | None = None, screen: int = 0, combine_screens: bool = False) -> Any:
        """Look at the screen: an image for vision models (shown as output), else the text on the screen (OCR)."""
        image = self.screenshot(screen=screen, quadrant=quadrant, combine_screens=combine_screens)
        if not self._uses_vision():
            from .ocr import read_text

            text = read_text(image)
            return text or "(No text could be read on the screen.)"
        global _SCREENSHOT
        if _SCREENSHOT is None:
            _SCREENSHOT = _screenshot_class()
        image.__class__ = _SCREENSHOT
        if show:
            self._emit(image)
        return image

    def _emit(self, image: Any) -> None:
        """Inside a kernel, show the screenshot as image output right away (once)."""
        shell = _in_ipython()
        if shell is None:
            return
        try:
            from IPython.display import display as ipy_display

            ipy_display(image)
            image._oi_shown = True
        except Exception:
            pass

    def base64(self, screen: int = 0, quadrant: int | None = None) -> str:
        """The screenshot as base64 PNG (what image output messages carry)."""
        return png_base64(self.screenshot(screen=screen, quadrant=quadrant))

    def get_text_as_list_of_lists(self, screen: int = 0) -> list[list[str]]:
        """The words on the screen, line by line."""
        from .ocr import read_words

        return [[box.text for box in words] for words in read_words(self.screenshot(screen=screen))]

    def text(self, screen: int = 0) -> str:
        """All the text on the screen (OCR)."""
        from .ocr import read_text

        return read_text(self.screenshot(screen=screen))

    def find_text(self, text: str, screen: int = 0) -> list[dict[str, Any]]:
        """Where `text` appears on the screen: [{"text", "coordinates": (x, y)}] in screen coordinates."""
        return [{"text": m.text, "coordinates": m.center} for m in self._locate(text, screen)[0]]

    def _locate(self, text: str, screen: int = 0) -> tuple[list[Any], list[str]]:
        """Matches (boxes in screen coordinates) and the lines read, for messages."""
        from .ocr import Box, find_phrase, line_texts, read_words

        monitor = self._monitor(screen)
        image = self.screenshot(screen=screen)
        scale_x = image.width / max(1, monitor["width"])
        scale_y = image.height / max(1, monitor["height"])
        lines = read_words(image)
        found = find_phrase(lines, text)
        boxes = [
            Box(
                b.text,
                int(monitor["left"] + b.left / scale_x),
                int(monitor["top"] + b.top / scale_y),
                max(1, int(b.width / scale_x)),
                max(1, int(b.height / scale_y)),
                b.confidence,
            )
            for b in found
        ]
        return boxes, line_texts(lines)
