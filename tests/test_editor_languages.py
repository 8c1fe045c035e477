"""Every language the code editor can highlight opens without crashing the process.

A bad tree-sitter wheel (0.26.x) segfaulted while building the javascript and json highlight
queries, which killed the whole app. Each language is opened in the real CodeEditor inside a
separate Python process, so a crash shows up here as a failed test instead of a dead pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from oi_tui.widgets.code_editor import GRAMMARS

SAMPLES = {
    "python": "def f(x):\n    return x * 2\n",
    "shell": "for f in *.txt; do echo \"$f\"; done\n",
    "javascript": "const x = [1, 2].map((n) => n * 2);\nconsole.log(`${x}`);\n",
    "json": '{"a": [1, 2, {"b": null}], "c": "d"}\n',
    "html": "<!doctype html><p class=\"x\">hi</p>\n",
    "css": "body { color: #fff; }\n",
    "yaml": "a: 1\nb: [x, y]\n",
    "toml": "[tool]\nname = \"x\"\n",
    "sql": "SELECT a, b FROM t WHERE a > 1;\n",
    "rust": "fn main() { println!(\"hi\"); }\n",
    "go": "package main\nfunc main() {}\n",
    "java": "class A { void f() {} }\n",
    "markdown": "# Title\n\n- item `code`\n",
    "xml": "<a><b x=\"1\"/></a>\n",
}

PROBE = textwrap.dedent(
    """
    import sys
    from textual.app import App
    from oi_tui.widgets.code_editor import CodeEditor

    language, code = sys.argv[1], sys.argv[2]

    class Probe(App):
        def compose(self):
            yield CodeEditor()

        def on_mount(self):
            editor = self.query_one(CodeEditor)
            editor.show_code(language, code)
            editor.append_code(code)
            self.highlighted = editor.language
            self.call_after_refresh(self.exit)

    app = Probe()
    app.run(headless=True, size=(80, 24))
    print("highlighted-as", app.highlighted)
    """
)


def highlightable() -> list[str]:
    """Core language names whose grammar this install can load."""
    return sorted(name for name, grammar in GRAMMARS.items() if name in SAMPLES or grammar in SAMPLES)


@pytest.mark.parametrize("language", highlightable())
def test_editor_opens_language_without_crashing(language: str) -> None:
    grammar = GRAMMARS[language]
    sample = SAMPLES.get(language) or SAMPLES[grammar if grammar != "bash" else "shell"]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, language, sample], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (
        f"opening {language} in the editor exited with {result.returncode} "
        f"(negative = killed by a signal)\n{result.stderr[-2000:]}"
    )
    # the grammar really loaded: a missing grammar would silently fall back to plain text
    assert f"highlighted-as {grammar}" in result.stdout, result.stdout + result.stderr[-1000:]
