"""`computer.mouse`: move, click and scroll, at coordinates or on text read from the screen."""

from __future__ import annotations

from typing import Any

from .display import pyautogui_module, translate_error
from .errors import AmbiguousTextError, ComputerError, NeedsVisionError, TextNotFoundError

_BUTTONS = ("left", "right", "middle")
_LISTED = 15  # at most this many matches / lines in a message


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Mouse:
    def __init__(self, computer: Any = None) -> None:
        self.computer = computer

    # ------------------------------------------------------------ where to point

    def _display(self) -> Any:
        if self.computer is not None:
            return self.computer.display
        from .display import Display

        return Display(None)

    def _target(
        self, text: str | None, x: float | None, y: float | None, icon: str | None, index: int | None, screen: int
    ) -> tuple[int, int] | None:
        if icon is not None:
            raise NeedsVisionError(
                f"Finding an icon ('{icon}') on the screen needs a vision model, which is not available here: "
                "use mouse.click(\"visible text\") or mouse.click(x=..., y=...) instead (take a look with "
                "computer.display.view() to get coordinates)."
            )
        if text is not None:
            if not isinstance(text, str):
                raise ComputerError("mouse.move/click take on-screen text as a string, or coordinates as x=..., y=....")
            return self._find(text, index, screen)
        if x is None and y is None:
            return None
        if x is None or y is None:
            raise ComputerError("Give both x= and y= (or on-screen text) to point the mouse.")
        return (int(round(float(x))), int(round(float(y))))

    def _find(self, text: str, index: int | None, screen: int) -> tuple[int, int]:
        boxes, lines = self._display()._locate(text, screen)
        if not boxes:
            seen = "; ".join(f"'{_clip(line)}'" for line in lines[:_LISTED])
            more = f" (and {len(lines) - _LISTED} more lines)" if len(lines) > _LISTED else ""
            raise TextNotFoundError(
                f"Could not find '{text}' on the screen; the text read there was: {seen}{more}."
                if lines
                else f"Could not find '{text}' on the screen: no text could be read there at all."
            )
        if index is not None:
            if not 0 <= index < len(boxes):
                raise ComputerError(f"index={index} is out of range: '{text}' was found {len(boxes)} time(s).")
            return boxes[index].center
        if len(boxes) > 1:
            listed = ", ".join(f"'{_clip(b.text)}' at {b.center}" for b in boxes[:_LISTED])
            raise AmbiguousTextError(
                f"'{text}' appears {len(boxes)} times on the screen: {listed}; "
                "pass index= (0 is the first listed) or use x=, y= to choose one."
            )
        return boxes[0].center

    # ------------------------------------------------------------ actions

    def position(self) -> tuple[int, int]:
        pg = pyautogui_module()
        try:
            point = pg.position()
        except Exception as exc:
            raise translate_error(exc, "read the mouse position") from exc
        return (int(point[0]), int(point[1]))

    def move(
        self,
        text: str | None = None,
        x: float | None = None,
        y: float | None = None,
        icon: str | None = None,
        index: int | None = None,
        screen: int = 0,
        duration: float = 0.0,
    ) -> tuple[int, int]:
        """Move the pointer to (x, y) or onto on-screen text; returns where it went."""
        target = self._target(text, x, y, icon, index, screen)
        if target is None:
            raise ComputerError("mouse.move needs on-screen text or x=, y= coordinates.")
        pg = pyautogui_module()
        try:
            pg.moveTo(target[0], target[1], duration=duration)
        except Exception as exc:
            raise translate_error(exc, "move the mouse") from exc
        return target

    def click(
        self,
        text: str | None = None,
        x: float | None = None,
        y: float | None = None,
        icon: str | None = None,
        button: str = "left",
        clicks: int = 1,
        interval: float = 0.1,
        index: int | None = None,
        screen: int = 0,
    ) -> tuple[int, int]:
        """Click at (x, y), on on-screen text, or where the pointer is; returns where it clicked."""
        if button not in _BUTTONS:
            raise ComputerError(f"button must be one of {', '.join(_BUTTONS)}, not '{button}'.")
        target = self._target(text, x, y, icon, index, screen)
        pg = pyautogui_module()
        try:
            if target is None:
                target = tuple(int(v) for v in pg.position())
            pg.click(x=target[0], y=target[1], clicks=clicks, interval=interval, button=button)
        except Exception as exc:
            raise translate_error(exc, "click") from exc
        return target

    def double_click(self, text: str | None = None, x: float | None = None, y: float | None = None, **kwargs: Any) -> tuple[int, int]:
        return self.click(text, x=x, y=y, clicks=2, **kwargs)

    def right_click(self, text: str | None = None, x: float | None = None, y: float | None = None, **kwargs: Any) -> tuple[int, int]:
        return self.click(text, x=x, y=y, button="right", **kwargs)

    def down(self, button: str = "left") -> None:
        pg = pyautogui_module()
        try:
            pg.mouseDown(button=button)
        except Exception as exc:
            raise translate_error(exc, "press the mouse button") from exc

    def up(self, button: str = "left") -> None:
        pg = pyautogui_module()
        try:
            pg.mouseUp(button=button)
        except Exception as exc:
            raise translate_error(exc, "release the mouse button") from exc

    def drag(self, x: float, y: float, button: str = "left", duration: float = 0.3) -> None:
        """Drag from the pointer's position to (x, y)."""
        pg = pyautogui_module()
        try:
            pg.dragTo(int(x), int(y), duration=duration, button=button)
        except Exception as exc:
            raise translate_error(exc, "drag the mouse") from exc

    def scroll(self, clicks: int, x: float | None = None, y: float | None = None) -> None:
        """Scroll by `clicks` (positive: up, negative: down), optionally at (x, y)."""
        pg = pyautogui_module()
        try:
            if x is not None and y is not None:
                pg.scroll(int(clicks), x=int(x), y=int(y))
            else:
                pg.scroll(int(clicks))
        except Exception as exc:
            raise translate_error(exc, "scroll") from exc
