"""Conversations as Markdown documents and Jupyter notebooks (nbformat v4); every key we know is redacted."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from .secrets import redactor

ROLE_NAMES = {"user": "You", "assistant": "Assistant", "computer": "Computer", "system": "System"}
CELL_MAGIC = {
    "shell": "%%bash", "bash": "%%bash", "sh": "%%bash", "zsh": "%%bash",
    "javascript": "%%javascript", "js": "%%javascript", "html": "%%html",
    "ruby": "%%ruby", "perl": "%%perl", "r": "%%R",
}


def image_payload(message: dict[str, Any]) -> tuple[str, str] | None:
    """(mime type, base64 data) for an LMC image message, or None when the image is gone."""
    fmt = str(message.get("format") or "base64")
    content = message.get("content")
    if not isinstance(content, str) or not content:
        return None
    if fmt == "path":
        path = Path(content).expanduser()
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return mimetypes.guess_type(path.name)[0] or "image/png", base64.b64encode(data).decode()
    if content.startswith("data:") and ";base64," in content:
        head, data = content.split(";base64,", 1)
        return head[5:] or "image/png", data
    mime = "image/jpeg" if fmt.endswith(("jpeg", "jpg")) else "image/gif" if fmt.endswith("gif") else "image/png"
    return mime, content


def _fence(text: str, language: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{language}\n{text.rstrip(chr(10))}\n{ticks}"


def _redacted(messages: list[dict[str, Any]], title: str, interpreter: Any) -> tuple[list[dict[str, Any]], str]:
    red = redactor(interpreter)
    return [red.message(message) for message in messages], red.text(title)


def to_markdown(messages: list[dict[str, Any]], title: str, *, interpreter: Any = None) -> str:
    """A readable Markdown transcript; images are embedded as data URLs (or linked by path)."""
    messages, title = _redacted(messages, title, interpreter)
    out = [f"# {title}", ""]
    speaker = None
    for message in messages:
        role = message.get("role", "")
        kind = message.get("type", "message")
        content = message.get("content")
        if kind == "confirmation":
            continue
        shown_role = "assistant" if role == "computer" else role
        if shown_role != speaker:
            out += [f"## {ROLE_NAMES.get(shown_role, str(shown_role).title())}", ""]
            speaker = shown_role
        if kind == "message":
            out += [str(content or ""), ""]
        elif kind == "code":
            if role == "computer" and message.get("format") == "html":
                out += [_fence(str(content or ""), "html"), ""]
            else:
                out += [_fence(str(content or ""), str(message.get("format") or "")), ""]
        elif kind == "console":
            text = str(content or "")
            out += ["Output:", "", _fence(text) if text.strip() else "_(no output)_", ""]
        elif kind == "image":
            if message.get("format") == "path":
                out += [f"![image]({content})", ""]
            else:
                payload = image_payload(message)
                if payload:
                    out += [f"![image](data:{payload[0]};base64,{payload[1]})", ""]
        elif content:
            out += [str(content), ""]
    return "\n".join(out).rstrip() + "\n"


def _code_source(language: str, code: str) -> str:
    magic = CELL_MAGIC.get(language.lower())
    return f"{magic}\n{code}" if magic else code


def to_notebook(messages: list[dict[str, Any]], title: str, *, interpreter: Any = None) -> Any:
    """An nbformat v4 notebook: text as Markdown cells, code as code cells carrying their outputs."""
    import nbformat
    from nbformat import v4

    messages, title = _redacted(messages, title, interpreter)
    notebook = v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.metadata["oi_tui"] = {"title": title}
    cells: list[Any] = [v4.new_markdown_cell(f"# {title}")]
    current = None  # the code cell collecting computer output
    count = 0
    for message in messages:
        role = message.get("role", "")
        kind = message.get("type", "message")
        content = message.get("content")
        if kind == "confirmation":
            continue
        if role == "computer":
            output = None
            if kind == "console":
                text = str(content or "")
                if text:
                    output = v4.new_output("stream", name="stdout", text=text if text.endswith("\n") else text + "\n")
            elif kind == "image":
                payload = image_payload(message)
                if payload:
                    output = v4.new_output("display_data", data={payload[0]: payload[1], "text/plain": "<image>"})
            elif kind == "code" and message.get("format") == "html":
                output = v4.new_output("display_data", data={"text/html": str(content or "")})
            elif content:
                output = v4.new_output("display_data", data={"text/plain": str(content)})
            if output is None:
                continue
            if current is None:
                current = v4.new_code_cell("# output")
                cells.append(current)
            current.outputs.append(output)
            continue
        if kind == "code":
            count += 1
            language = str(message.get("format") or "python")
            current = v4.new_code_cell(_code_source(language, str(content or "")), execution_count=count)
            current.metadata["language"] = language
            cells.append(current)
            continue
        current = None
        if kind == "image":
            payload = image_payload(message)
            if payload:
                cells.append(v4.new_markdown_cell(f"**{ROLE_NAMES.get(role, role)}:**\n\n![image](data:{payload[0]};base64,{payload[1]})"))
            continue
        text = str(content or "")
        if role == "user":
            cells.append(v4.new_markdown_cell("**You:**\n\n" + text))
        else:
            cells.append(v4.new_markdown_cell(text))
    notebook.cells = cells
    nbformat.validate(notebook)
    return notebook
