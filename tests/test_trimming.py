"""Trimming to the context window: linear (each message counted once), announced once per conversation."""

from __future__ import annotations

import pytest

from oi_core.events import InfoShown
from tests.llm_server import Reply


def long_history(count: int) -> list[dict]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "type": "message", "content": f"message {i} " + "word " * 40}
        for i in range(count)
    ]


def small_window(make_interpreter):
    """An interpreter whose model has a 2,000-token window and replies of at most 200."""
    interp = make_interpreter()
    interp.llm.context_window = 2000
    interp.llm.max_tokens = 200
    return interp


@pytest.fixture
def counted(monkeypatch):
    """Calls of litellm's token counter (each one tokenizes what it is given)."""
    from oi_core.llm import import_litellm

    litellm = import_litellm()
    real = litellm.token_counter
    calls: list[int] = []

    def token_counter(*args, **kwargs):
        calls.append(len(kwargs.get("messages") or []))
        return real(*args, **kwargs)

    monkeypatch.setattr(litellm, "token_counter", token_counter)
    return calls


def test_trimming_counts_each_message_once(make_interpreter, llm, counted) -> None:
    interp = small_window(make_interpreter)
    interp.messages = long_history(400)
    llm.queue("ok")
    interp.chat("newest question", display=False)
    sent = llm.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and sent[-1]["content"] == "newest question"
    assert len(sent) < 40
    assert sum(counted) <= 410, f"tokenized {sum(counted)} messages for a 400-message conversation"
    counted.clear()
    llm.queue("ok again")
    interp.chat("one more", display=False)
    assert sum(counted) <= 5, "the next request counts only what is new"


def test_trimming_is_announced_once_per_conversation(make_interpreter, llm) -> None:
    interp = small_window(make_interpreter)
    shown: list[InfoShown] = []
    interp.bus.on(InfoShown, shown.append)
    llm.queue("short")
    interp.chat("a short conversation fits", display=False)
    assert shown == []
    interp.messages = long_history(100)
    llm.queue("one", "two")
    interp.chat("first", display=False)
    interp.chat("second", display=False)
    notices = [e for e in shown if e.title == "Context window"]
    assert len(notices) == 1
    assert "context window (2,000 tokens)" in notices[0].text and "oldest messages" in notices[0].text
    interp.reset()
    interp.messages = long_history(100)
    llm.queue("three")
    interp.chat("third", display=False)
    assert len([e for e in shown if e.title == "Context window"]) == 2, "a new conversation is told again"


async def test_trimming_notice_appears_once_in_the_transcript(make_interpreter, llm, pinned_look, no_kernel_warm_up):
    from oi_tui.app import OiApp
    from oi_tui.widgets.chat_messages import AssistantMessage, NoticeMessage
    from tests.tui_support import chat, send, wait_for

    interp = small_window(make_interpreter)
    interp.messages = long_history(100)
    llm.queue(Reply(text="first reply"), Reply(text="second reply"))
    app = OiApp(interp)
    async with app.run_test(size=(120, 35)) as pilot:
        for text, reply in (("one", "first reply"), ("two", "second reply")):
            await send(pilot, text)
            await wait_for(pilot, lambda: chat(app).status == "idle" and any(
                m.text == reply for m in app.query(AssistantMessage)))
        notices = [str(n.render()) for n in app.query(NoticeMessage) if "context window" in str(n.render())]
        assert len(notices) == 1


def test_trimming_work_follows_what_is_sent_not_the_conversation_length(make_interpreter, llm, monkeypatch) -> None:
    from oi_core.llm import Llm

    looked_at: list[int] = []
    real = Llm.message_tokens
    monkeypatch.setattr(Llm, "message_tokens", lambda self, message: looked_at.append(1) or real(self, message))
    interp = small_window(make_interpreter)
    interp.messages = long_history(3000)
    llm.queue("ok")
    interp.chat("newest question", display=False)
    sent = len(llm.requests[-1]["messages"])
    assert len(looked_at) <= sent + 5, f"looked at {len(looked_at)} messages to send {sent}"


def test_a_conversation_in_chinese_is_trimmed_to_the_window(make_interpreter, llm) -> None:
    """Rough sizes count UTF-8 bytes: 2,400 CJK characters (~2,800 tokens) never pass as clearly fitting 1,800.

    Counted in characters (2,400 // 3 = 800, under half the window) they were sent whole, over the window.
    """
    interp = small_window(make_interpreter)
    interp.system_message = "Be brief."  # a long system message alone would already force exact counting
    interp.messages = [{"role": "user" if i % 2 == 0 else "assistant", "type": "message",
                        "content": "这是一个关于上下文窗口的很长的句子" * 7 + str(i)} for i in range(20)]
    llm.queue("好")
    interp.chat("最新的问题", display=False)
    sent = llm.requests[-1]["messages"]
    assert sent[-1]["content"] == "最新的问题"
    assert len(sent) < 21, "nothing was trimmed: the history was taken as clearly fitting"
    from oi_core.llm import import_litellm

    assert import_litellm().token_counter(model="openai/test-model", messages=sent) <= 2000 - 200


def test_rough_sizes_never_take_cjk_text_for_a_third_of_its_tokens() -> None:
    from oi_core.convert import _rough_size
    from oi_core.llm import import_litellm, rough_tokens

    text = "这是一个关于上下文窗口的很长的句子" * 20  # 340 characters
    real = import_litellm().token_counter(model="openai/test-model", messages=[{"role": "user", "content": text}])
    assert rough_tokens(text) >= real * 0.8, (rough_tokens(text), real)  # chars // 3 gave 117 for ~400
    assert _rough_size(text) == len(text.encode("utf-8"))
    assert rough_tokens("plain English words here " * 20) >= 100  # ~4 bytes a token: still generous
