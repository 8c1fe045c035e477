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


# ---------------------------------------------------------------- redaction: the one helper


def test_redact_knows_key_like_environment_variables(monkeypatch):
    monkeypatch.setenv("ACME_DEPLOY_TOKEN", "zq91.Unusual/shape+of_key")
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("MY_SERVICE_KEY", "k3y-value-999")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # too short to be a secret
    monkeypatch.setenv("PROJECT_HOME", "/home/someone/project")  # not a key-like name
    text = "token zq91.Unusual/shape+of_key, pw hunter2hunter2, key k3y-value-999, home /home/someone/project, false"
    out = secrets.redact(text)
    for value in ("zq91.Unusual/shape+of_key", "hunter2hunter2", "k3y-value-999"):
        assert value not in out
    assert "/home/someone/project" in out and out.endswith("false")


def test_redact_knows_keys_from_settings_keyring_session_and_extra():
    class Llm:
        api_key = "setting-key-0123456789"

    class Interp:
        llm = Llm()

    secrets.store_api_key("groq", "gsk-keyring-value-abcdef")
    secrets._session_keys["mistral"] = "session-only-value-42"
    watched = Llm()
    watched.api_key = "watched-key-abcdefgh"
    secrets.watch(watched)
    text = ("setting-key-0123456789 gsk-keyring-value-abcdef session-only-value-42 watched-key-abcdefgh "
            "passed-in-secret-777")
    out = secrets.redact(text, Interp(), extra=["passed-in-secret-777"])
    assert all(part not in out for part in text.split()), out


def test_a_key_read_from_the_keyring_is_remembered_for_redaction():
    import keyring

    keyring.set_password(secrets.SERVICE, "openai", "zz-stored-by-another-process-01")  # not a known shape
    assert "zz-stored-by-another-process-01" in secrets.redact("the key: zz-stored-by-another-process-01")
    assert secrets.stored_api_key("openai") == "zz-stored-by-another-process-01"  # used in this session
    assert "zz-stored-by-another-process-01" not in secrets.redact("the key: zz-stored-by-another-process-01")


def test_redact_hides_an_echoed_authorization_header_of_any_key():
    body = ('{"error": {"message": "Bad request", "request_headers": {"Authorization": "Bearer Zx9-odd.Key_0042", '
            '"x-api-key": "another.unknown.key"}}}')
    out = secrets.redact(body)
    assert "Zx9-odd.Key_0042" not in out and "another.unknown.key" not in out
    assert '"Authorization": "Bearer [redacted]"' in out
    assert secrets.redact("authorization: token ghp_" + "a" * 36).endswith("[redacted]") or "ghp_aaaa" not in secrets.redact(
        "authorization: token ghp_" + "a" * 36)
    long_key = "sk-proj-" + "Q" * 40
    assert secrets.redact(f"key={long_key}") == f"key={secrets.mask(long_key)}"


def test_redact_data_blanks_credential_fields_and_keeps_images():
    data = {"api_key": "abc", "nested": [{"Authorization": "x"}, {"text": "sk-" + "a" * 30}], "n": 3}
    out = secrets.redact_data(data)
    assert out == {"api_key": "[redacted]", "nested": [{"Authorization": "[redacted]"}, {"text": secrets.mask("sk-" + "a" * 30)}], "n": 3}
    image = {"role": "computer", "type": "image", "format": "base64.png", "content": "sk-" + "b" * 40}
    assert secrets.redactor().message(image)["content"] == image["content"]


def test_redact_is_cheap_enough_for_every_message():
    import time

    text = "An ordinary reply of a few sentences, with code: print('hello world') and nothing secret. " * 4
    secrets.redact(text)
    started = time.perf_counter()
    for _ in range(2000):
        secrets.redact(text)
    per_call = (time.perf_counter() - started) / 2000
    assert per_call < 0.002, f"{per_call * 1000:.3f} ms per call"
