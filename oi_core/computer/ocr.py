"""Reading text on the screen with Tesseract (via pytesseract), and finding where a phrase is."""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from typing import Any

from .errors import ComputerError, OcrTimeoutError, TesseractMissingError

OCR_TIMEOUT = 30  # seconds for one tesseract run; it never blocks longer
_INSTALL_HINT = "install it (apt install tesseract-ocr, brew install tesseract, or choco install tesseract)"


@dataclass(frozen=True)
class Box:
    """A rectangle in image pixels, with the text read inside it."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float = -1.0

    @property
    def center(self) -> tuple[int, int]:
        return (self.left + self.width // 2, self.top + self.height // 2)


def _pytesseract() -> Any:
    try:
        import pytesseract
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise TesseractMissingError(f"The pytesseract package is missing ({exc}): reinstall oi-tui.") from exc
    return pytesseract


def tesseract_command() -> str | None:
    """The tesseract program that will run, or None when it cannot be found."""
    cmd = str(_pytesseract().pytesseract.tesseract_cmd or "tesseract")
    if os.path.sep in cmd or (os.path.altsep and os.path.altsep in cmd):
        return cmd if os.path.isfile(cmd) and os.access(cmd, os.X_OK) else None
    return shutil.which(cmd)


def tesseract_available() -> bool:
    return tesseract_command() is not None


def require_tesseract() -> Any:
    """pytesseract, after checking the tesseract program exists (one clear sentence if not)."""
    pytesseract = _pytesseract()
    if tesseract_command() is None:
        cmd = pytesseract.pytesseract.tesseract_cmd
        raise TesseractMissingError(
            f"Reading text on the screen needs the Tesseract OCR program, but '{cmd}' was not found: {_INSTALL_HINT}."
        )
    return pytesseract


def _run(func: Any, *args: Any, **kwargs: Any) -> Any:
    pytesseract = require_tesseract()
    try:
        return func(*args, timeout=OCR_TIMEOUT, **kwargs)
    except pytesseract.TesseractNotFoundError as exc:
        raise TesseractMissingError(
            f"Reading text on the screen needs the Tesseract OCR program, which could not be started: {_INSTALL_HINT}."
        ) from exc
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise OcrTimeoutError(f"Reading the screen's text took more than {OCR_TIMEOUT} seconds and was stopped.") from exc
        raise ComputerError(f"Tesseract could not read the screen: {exc}.") from exc
    except pytesseract.TesseractError as exc:
        raise ComputerError(f"Tesseract could not read the screen: {exc.message or exc}.") from exc
    except PermissionError as exc:
        raise TesseractMissingError(f"The Tesseract OCR program could not be run (permission denied): {exc}.") from exc


def _prepare(image: Any) -> Any:
    image = image.convert("L")
    if image.width < 1600:  # small text reads better enlarged
        image = image.resize((image.width * 2, image.height * 2))
    return image


def read_text(image: Any) -> str:
    """All the text in an image, line by line."""
    pytesseract = require_tesseract()
    text = _run(pytesseract.image_to_string, _prepare(image))
    lines = [line.rstrip() for line in str(text).splitlines()]
    return "\n".join(line for line in lines if line.strip())


def read_words(image: Any) -> list[list[Box]]:
    """Words in the image (boxes in the image's own pixels), grouped in lines, top to bottom."""
    pytesseract = require_tesseract()
    prepared = _prepare(image)
    scale = image.width / prepared.width
    data = _run(pytesseract.image_to_data, prepared, output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int, int], list[Box]] = {}
    for i, word in enumerate(data.get("text", [])):
        word = str(word).strip()
        if not word:
            continue
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        box = Box(
            word,
            round(data["left"][i] * scale),
            round(data["top"][i] * scale),
            max(1, round(data["width"][i] * scale)),
            max(1, round(data["height"][i] * scale)),
            float(data["conf"][i]),
        )
        lines.setdefault(key, []).append(box)
    ordered = sorted(lines.values(), key=lambda words: (min(b.top for b in words), min(b.left for b in words)))
    return [sorted(words, key=lambda b: b.left) for words in ordered]


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _union(words: list[Box], text: str) -> Box:
    left = min(b.left for b in words)
    top = min(b.top for b in words)
    right = max(b.left + b.width for b in words)
    bottom = max(b.top + b.height for b in words)
    return Box(text, left, top, right - left, bottom - top, min(b.confidence for b in words))


def find_phrase(lines: list[list[Box]], phrase: str) -> list[Box]:
    """Where a phrase (one or more words, any case) appears.

    Whole-word matches win; when there are none, matches inside longer words count too.
    """
    wanted = _normal(phrase)
    if not wanted:
        return []
    exact: list[Box] = []
    partial: list[Box] = []
    for words in lines:
        spans: list[tuple[int, int, Box]] = []
        joined = ""
        for box in words:
            token = _normal(box.text)
            if not token:
                continue
            if joined:
                joined += " "
            spans.append((len(joined), len(joined) + len(token), box))
            joined += token
        start = joined.find(wanted)
        while start != -1:
            end = start + len(wanted)
            covered = [b for s, e, b in spans if s < end and e > start]
            if covered:
                text = " ".join(b.text for b in covered)
                whole = any(s == start for s, _, _ in spans) and any(e == end for _, e, _ in spans)
                (exact if whole else partial).append(_union(covered, text))
            start = joined.find(wanted, start + 1)
    return exact or partial


def line_texts(lines: list[list[Box]]) -> list[str]:
    return [" ".join(b.text for b in words) for words in lines]
