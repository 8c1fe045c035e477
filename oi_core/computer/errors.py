"""Failures of the computer API (screen, mouse, keyboard, clipboard, OCR), each one sentence a user can act on."""

from __future__ import annotations

from ..errors import OiError


class ComputerError(OiError):
    """Base class: something the computer API cannot do here, with the reason in `message`."""

    kind = "computer"

    def __str__(self) -> str:
        return self.message


class NoDisplayError(ComputerError):
    """There is no graphical display to look at or control."""


class PermissionDeniedError(ComputerError):
    """The system refused access (screen recording, accessibility, X authorization, Apple events)."""


class TesseractMissingError(ComputerError):
    """The `tesseract` OCR program is not installed or cannot be run."""


class OcrTimeoutError(ComputerError):
    """Reading the screen's text took too long."""


class TextNotFoundError(ComputerError):
    """The text to point at is not on the screen."""


class AmbiguousTextError(ComputerError):
    """The text to point at appears several times on the screen."""


class NeedsVisionError(ComputerError):
    """The request (e.g. finding an icon) needs a vision model."""


class NotAvailableOnThisOSError(ComputerError):
    """That part of the computer API only exists on another operating system."""


class ToolMissingError(ComputerError):
    """A helper program (xclip, xdotool, osascript...) is missing."""
