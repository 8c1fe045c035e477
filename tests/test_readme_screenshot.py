"""The README's picture of the main screen mid-approval is made by the app itself, through the real path.

A scripted reply (through litellm) brings a Python block; the app waits for approval while the user has
already typed their next thought into the prompt. The SVG is exported by the app (`export_screenshot`).
Set `OI_TUI_WRITE_SCREENSHOT=1` to rewrite docs/screenshot-approval.svg after a visual change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from oi_tui.app import OiApp
from oi_tui.widgets.prompt_input import PromptInput
from tests.tui_support import chat, send, wait_for, wait_for_approval

pytestmark = pytest.mark.usefixtures("no_kernel_warm_up")

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "screenshot-approval.svg"

REPLY = """I'll find the five largest files in your Downloads folder and chart their sizes.

1. walk the folder once, keeping sizes
2. plot the top five as a horizontal bar chart

```python
from pathlib import Path
import matplotlib.pyplot as plt

files = [p for p in Path.home().joinpath("Downloads").rglob("*") if p.is_file()]
largest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:5]
sizes = [p.stat().st_size / 1e6 for p in largest]
plt.barh([p.name for p in largest], sizes)
plt.xlabel("MB")
plt.show()
```
"""


def svg_text(svg: str) -> str:
    """The visible text of an exported screen (Rich writes each run of text in its own <text> element)."""
    return re.sub(r"&#160;|&nbsp;", " ", " ".join(re.findall(r">([^<>]+)</text>", svg)))


async def test_the_readme_shows_the_main_screen_mid_approval(make_interpreter, llm, monkeypatch):
    monkeypatch.delenv("OI_TUI_THEME", raising=False)  # the app's own default look
    llm.queue(REPLY)
    interp = make_interpreter()
    app = OiApp(interp)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "Find the 5 largest files in ~/Downloads and chart their sizes")
        await wait_for_approval(pilot)
        await pilot.press(*"and then delete the biggest one")
        app.animation_level = "none"
        for widget in [*app.query(TextArea), *app.query(Input)]:
            widget.cursor_blink = False
        prompt = app.query_one(PromptInput)
        await wait_for(pilot, lambda: prompt.text == "and then delete the biggest one")
        assert chat(app).pending is not None, "typing in the prompt approved nothing"
        await pilot.pause(0.5)
        svg = app.export_screenshot(title="oi-tui")
    shown = svg_text(svg)
    for expected in ("largest", "plt.barh", "and then delete the biggest one", "ctrl+r", "Run"):
        assert expected in shown, f"{expected!r} is not in the picture"
    if os.environ.get("OI_TUI_WRITE_SCREENSHOT"):
        PICTURE.parent.mkdir(exist_ok=True)
        PICTURE.write_text(svg, encoding="utf-8")
    assert PICTURE.exists(), "docs/screenshot-approval.svg is missing: run with OI_TUI_WRITE_SCREENSHOT=1"
    stored = svg_text(PICTURE.read_text(encoding="utf-8"))
    assert "plt.barh" in stored and "and then delete the biggest one" in stored
    assert "docs/screenshot-approval.svg" in (ROOT / "README.md").read_text(encoding="utf-8")
