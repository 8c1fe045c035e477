"""Images in user messages: found in the text, sent to vision models as data URLs, a note for the others."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from PIL import Image

from oi_core.convert import NO_VISION_NOTE
from oi_core.images import image_paths_in, user_message_with_images


@pytest.fixture
def pictures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (8, 6), "red").save(tmp_path / "shot.png")
    Image.new("RGB", (8, 6), "blue").save(tmp_path / "my photo.jpg", "JPEG")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (4, 4), "green").save(tmp_path / "sub" / "c.webp", "WEBP")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def names(text: str) -> list[str]:
    return [p.name for p in image_paths_in(text)]


def test_paths_found_in_text(pictures: Path) -> None:
    assert names(f"what is in {pictures / 'shot.png'}?") == ["shot.png"]
    assert names(f"Look at {pictures / 'shot.png'}.") == ["shot.png"]
    assert names("compare ./shot.png with sub/c.webp, please") == ["shot.png", "c.webp"]
    assert names("just shot.png") == ["shot.png"]
    assert names('the file "my photo.jpg" is blurry') == ["my photo.jpg"]
    assert names(f"{pictures}/my\\ photo.jpg") == ["my photo.jpg"]
    assert names(f"file://{pictures}/my%20photo.jpg") == ["my photo.jpg"]
    assert names("(shot.png)") == ["shot.png"]


def test_paths_not_found(pictures: Path) -> None:
    assert names("missing.png and notes.txt") == []
    assert names("https://example.com/shot.png") == []
    assert names("no images here") == []
    assert names(f"shot.png and ./shot.png and {pictures / 'shot.png'}") == ["shot.png"]  # each file once


def test_user_message_items(pictures: Path) -> None:
    items = user_message_with_images("describe shot.png")
    assert items[0] == {"role": "user", "type": "message", "content": "describe shot.png"}
    assert items[1]["type"] == "image" and items[1]["format"] == "path"
    assert Path(items[1]["content"]).is_absolute() and Path(items[1]["content"]).name == "shot.png"


def _user_content(request: dict) -> list | str:
    users = [m for m in request["messages"] if m["role"] == "user"]
    assert users, request["messages"]
    return users[-1]["content"]


def test_vision_model_gets_image_url(llm, make_interpreter, pictures: Path) -> None:
    interp = make_interpreter()
    interp.llm.supports_vision = True
    llm.queue("A red rectangle.")
    interp.chat(f"What is in {pictures / 'shot.png'}?", display=False)
    content = _user_content(llm.requests[-1])
    assert isinstance(content, list), content
    texts = [part["text"] for part in content if part.get("type") == "text"]
    assert any("What is in" in t for t in texts)
    urls = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert len(urls) == 1
    assert urls[0].startswith("data:image/png;base64,")
    data = base64.b64decode(urls[0].split(",", 1)[1])
    assert data == (pictures / "shot.png").read_bytes()


def test_vision_model_gets_jpeg_with_its_type(llm, make_interpreter, pictures: Path) -> None:
    interp = make_interpreter()
    interp.llm.supports_vision = True
    llm.queue("Blue.")
    interp.chat('And "my photo.jpg"?', display=False)
    content = _user_content(llm.requests[-1])
    urls = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert len(urls) == 1 and urls[0].startswith("data:image/jpeg;base64,")


def test_non_vision_model_gets_note(llm, make_interpreter, pictures: Path) -> None:
    interp = make_interpreter()
    interp.llm.supports_vision = False
    llm.queue("I cannot see it.")
    interp.chat(f"What is in {pictures / 'shot.png'}?", display=False)
    request = llm.requests[-1]
    raw = str(request["messages"])
    assert "image_url" not in raw and "base64" not in raw
    content = _user_content(request)
    text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    assert "What is in" in text and NO_VISION_NOTE in text
