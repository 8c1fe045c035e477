"""API keys: keyring (through a file test backend), the environment winning, masking, no-backend fallback."""

from __future__ import annotations

import json

import pytest

from oi_core import secrets


@pytest.fixture(autouse=True)
def clean_keys(monkeypatch):
    for name in set(secrets.PROVIDER_ENV.values()):
        monkeypatch.delenv(name, raising=False)
    yield
    for provider in ("openai", "anthropic", "groq", "mistral"):
        secrets.delete_api_key(provider)
    secrets._session_keys.clear()


def test_test_backend_is_in_use():
    ok, name = secrets.keyring_status()
    assert ok, name
    assert "PlaintextKeyring" in name


def test_store_and_lookup_per_provider():
    message = secrets.store_api_key("anthropic", "sk-ant-secret-0123456789")
    assert "keyring" in message
    assert "sk-ant-secret-0123456789" not in message  # masked
    assert "6789" in message
    assert secrets.lookup_api_key("anthropic/claude-3-5-sonnet") == "sk-ant-secret-0123456789"
    assert secrets.lookup_api_key("claude-3-opus") == "sk-ant-secret-0123456789"
    assert secrets.lookup_api_key("gpt-4o") is None
    assert secrets.key_source("claude-3-opus") == "keyring"


def test_llm_uses_keyring_key():
    from oi_core.llm import Llm

    secrets.store_api_key("openai", "sk-openai-abcdefghijkl")
    llm = Llm()
    llm.model = "gpt-4o"
    assert llm.resolved_api_key() == "sk-openai-abcdefghijkl"
    llm.api_key = "explicit"
    assert llm.resolved_api_key() == "explicit"


def test_environment_wins(monkeypatch):
    secrets.store_api_key("openai", "sk-stored-0000000000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-1111111111")
    assert secrets.lookup_api_key("gpt-4o") is None  # litellm reads the environment itself
    assert secrets.key_source("gpt-4o") == "environment (OPENAI_API_KEY)"


def test_delete():
    secrets.store_api_key("groq", "gsk-abcdefghijklmnop")
    assert secrets.delete_api_key("groq") is True
    assert secrets.lookup_api_key("groq/llama3") is None
    assert secrets.delete_api_key("groq") is False


def test_bad_inputs():
    from oi_core.errors import OiError

    with pytest.raises(OiError, match="empty"):
        secrets.store_api_key("openai", "   ")
    with pytest.raises(OiError, match="provider"):
        secrets.store_api_key("open ai!", "sk-xxxxxxxxxxxxxxxx")


def test_no_backend_keeps_key_for_session(monkeypatch):
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        assert secrets.keyring_available() is False
        message = secrets.store_api_key("mistral", "mistral-key-0123456789")
        assert "session only" in message and "MISTRAL_API_KEY" in message
        assert "mistral-key-0123456789" not in message
        assert secrets.lookup_api_key("mistral/mistral-large") == "mistral-key-0123456789"
        assert secrets.key_source("mistral/mistral-large") == "session"
    finally:
        keyring.set_keyring(previous)


def test_mask_and_redact():
    assert secrets.mask("sk-abcdefghijklmnop") == "sk-…mnop"
    assert "short" not in secrets.mask("short")
    assert secrets.mask(None) == "(none)"
    secrets._session_keys["openai"] = "sk-session-secret-999"
    assert "sk-session-secret-999" not in secrets.redact("the key is sk-session-secret-999 ok")


def test_keys_never_in_saved_messages_or_written_profiles(make_interpreter, tmp_path):
    from oi_core.magic import run_magic
    from oi_core.profiles import apply_profile, profile_dir
    from oi_core.session import Session

    interp = make_interpreter()
    interp.llm.api_key = "sk-very-secret-key-42"
    interp.messages = [{"role": "user", "type": "message", "content": "my key is sk-very-secret-key-42"}]
    import asyncio

    asyncio.run(run_magic(Session(interp), f"%save_message {tmp_path / 'm.json'}"))
    saved = (tmp_path / "m.json").read_text()
    assert "sk-very-secret-key-42" not in saved
    assert json.loads(saved)[0]["role"] == "user"
    apply_profile(interp, None, overrides={"llm.api_key": "sk-very-secret-key-42"})
    for path in profile_dir().iterdir():
        assert "sk-very-secret-key-42" not in path.read_text()
