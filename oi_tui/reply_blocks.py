"""Cutting a streamed reply into finished Markdown blocks, and showing blocks too big to format.

A reply is shown as formatted Markdown block by block: a block is finished at a blank line outside a
code fence, and only then parsed and rendered, once. The block still being written is shown as plain
text (see widgets/streamed_text.py). Blocks longer than `BIG_BLOCK` characters are never parsed as
Markdown (a 1 MB paragraph, a 3,000-row table): tables are laid out as aligned text, anything else stays
plain text, so rendering cost stays linear in the reply's size.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, set_cell_size

#: A block longer than this (characters) is shown as plain text or an aligned table, not parsed.
BIG_BLOCK = 16_000
#: Widest column of an aligned table, in cells (longer cells end in "…").
TABLE_COLUMN_CELLS = 40

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")


class BlockSplitter:
    """Feed streamed text; get back the Markdown blocks that are finished, in order.

    The blocks joined with the tail always give back exactly the text fed, so the shown reply and the
    stored one cannot differ.
    """

    def __init__(self) -> None:
        self._block: list[str] = []  # complete lines of the block being written
        self._block_size = 0
        self._line = ""  # the line being written
        self._fence: str | None = None  # the open fence's marker ("```", "~~~~"), if inside one
        self._content = False  # the block has a non-blank line
        self.generation = 0
        """Counts finished blocks: when it changes, the tail starts over."""

    @property
    def tail(self) -> str:
        """The block still being written."""
        return "".join(self._block) + self._line

    @property
    def tail_size(self) -> int:
        return self._block_size + len(self._line)

    def feed(self, text: str) -> list[str]:
        finished: list[str] = []
        lines = text.split("\n")
        for i, piece in enumerate(lines):
            if i < len(lines) - 1:  # a complete line
                line = self._line + piece + "\n"
                self._line = ""
                if self._take(line):
                    finished.append("".join(self._block))
                    self._block, self._block_size, self._content = [], 0, False
                    self.generation += 1
            else:
                self._line += piece
        return finished

    def close(self) -> str:
        """The last block (possibly without a final newline); the splitter starts over."""
        last = self.tail
        self._block, self._block_size, self._line, self._fence, self._content = [], 0, "", None, False
        return last

    def _take(self, line: str) -> bool:
        """Add a complete line to the block; True when it ends the block."""
        self._block.append(line)
        self._block_size += len(line)
        blank = not line.strip()
        fence = _FENCE.match(line)
        if self._fence is not None:
            if fence and fence.group(1)[0] == self._fence[0] and len(fence.group(1)) >= len(self._fence) \
                    and not line.strip().strip(self._fence[0]):
                self._fence = None
            return False
        if fence:
            self._fence = fence.group(1)
            self._content = True
            return False
        if blank:
            return self._content  # a blank line ends a block that has content
        self._content = True
        return False


def is_table(block: str) -> bool:
    """A GitHub-style table: a header row, then a rule of dashes."""
    lines = block.lstrip("\n").split("\n", 2)
    return len(lines) >= 2 and "|" in lines[0] and bool(_TABLE_RULE.match(lines[1]))


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)]


def aligned_table(block: str) -> str:
    """A Markdown table as aligned plain text (column rule under the header); linear in its size."""
    lines = [line for line in block.strip("\n").split("\n") if line.strip()]
    header, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    columns = max(len(header), *(len(row) for row in rows)) if rows else len(header)
    widths = [0] * columns
    for row in [header, *rows]:
        for index, cell in enumerate(row[:columns]):
            widths[index] = min(TABLE_COLUMN_CELLS, max(widths[index], cell_len(cell)))

    def fit(cell: str, width: int) -> str:
        if cell_len(cell) > width:
            return set_cell_size(cell, width - 1) + "…"
        return set_cell_size(cell, width)

    def render(row: list[str]) -> str:
        row = row + [""] * (columns - len(row))
        return " │ ".join(fit(cell, width) for cell, width in zip(row, widths)).rstrip()

    out = [render(header), "─┼─".join("─" * width for width in widths)]
    out.extend(render(row) for row in rows)
    return "\n".join(out) + "\n"
