"""What the user sends enters the conversation off the event loop, and always as encodable text."""

from __future__ import annotations

import json
import threading


async def test_image_paths_in_a_message_are_looked_up_off_the_event_loop(make_interpreter, llm, monkeypatch) -> None:
    from oi_core import images

    threads = []
    real = images.user_message_with_images

    def looked_up(text):
        threads.append(threading.current_thread())
        return real(text)

    monkeypatch.setattr(images, "user_message_with_images", looked_up)
    interp = make_interpreter()
    llm.queue("Seen.")
    [c async for c in interp.achat("look at ~/missing-picture.png please")]
    assert threads and threading.main_thread() not in threads, "stat calls per message would stall the UI"
    assert interp.messages[0]["content"] == "look at ~/missing-picture.png please"


def test_a_lone_surrogate_typed_by_the_user_never_breaks_a_request(make_interpreter, llm, data_dir) -> None:
    interp = make_interpreter(conversation_history=True)
    llm.queue("Fine.", "Still fine.")
    interp.chat("half an emoji \ud83d here", display=False)
    assert interp.messages[0]["content"] == "half an emoji \ufffd here"
    assert interp.chat("next", display=False)[-1]["content"] == "Still fine."
    json.dumps(llm.requests[-1]["messages"], ensure_ascii=False).encode("utf-8")
