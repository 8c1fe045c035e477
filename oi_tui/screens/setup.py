"""First-run setup: choose a model provider and enter its key, or point oi-tui at a local server.

Shown instead of a traceback when no usable model is configured (`needs_setup`). The screen dismisses
with a `SetupResult` (or None when cancelled); `apply_setup` puts it into the interpreter and stores the
key in the OS keyring. The key is typed into a masked input and never shown, logged or repr'd.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static
from textual.worker import Worker, WorkerState

from oi_core import secrets, tls
from oi_core.sanitize import terminal_safe


@dataclass(frozen=True)
class SetupResult:
    """What the user chose: the litellm model string, the server (None for a cloud provider) and key."""

    model: str
    api_base: str | None
    api_key: str | None = field(default=None, repr=False)
    provider: str = "openai"
    """The keyring entry name for a cloud provider ("openai", "anthropic", ...); the choice id otherwise."""


@dataclass(frozen=True)
class ProviderChoice:
    """One entry of the provider list."""

    id: str
    label: str
    default_model: str
    local: bool = False
    """True for an OpenAI-compatible (or Ollama) server reached through a URL."""
    default_url: str = ""
    model_prefix: str = ""
    """Prepended to a bare model name typed for a local server ("llama3.1" -> "ollama/llama3.1")."""
    key_check: tuple[str, str, str] | None = None
    """(URL, header, header value template) used by Test connection for a cloud provider."""


CHOICES: tuple[ProviderChoice, ...] = (
    ProviderChoice(
        "openai", "OpenAI", "gpt-4o", key_check=("https://api.openai.com/v1/models", "Authorization", "Bearer {key}")
    ),
    ProviderChoice(
        "anthropic",
        "Anthropic",
        "anthropic/claude-sonnet-4-20250514",
        key_check=("https://api.anthropic.com/v1/models", "x-api-key", "{key}"),
    ),
    ProviderChoice(
        "openrouter",
        "OpenRouter",
        "openrouter/openai/gpt-4o",
        key_check=("https://openrouter.ai/api/v1/auth/key", "Authorization", "Bearer {key}"),
    ),
    ProviderChoice(
        "groq",
        "Groq",
        "groq/llama-3.3-70b-versatile",
        key_check=("https://api.groq.com/openai/v1/models", "Authorization", "Bearer {key}"),
    ),
    ProviderChoice(
        "gemini",
        "Google Gemini",
        "gemini/gemini-2.0-flash",
        key_check=("https://generativelanguage.googleapis.com/v1beta/models", "x-goog-api-key", "{key}"),
    ),
    ProviderChoice(
        "mistral",
        "Mistral",
        "mistral/mistral-large-latest",
        key_check=("https://api.mistral.ai/v1/models", "Authorization", "Bearer {key}"),
    ),
    ProviderChoice(
        "ollama", "Ollama (local)", "llama3.1", local=True, default_url="http://localhost:11434", model_prefix="ollama/"
    ),
    ProviderChoice(
        "lm_studio",
        "LM Studio (local)",
        "",
        local=True,
        default_url="http://localhost:1234/v1",
        model_prefix="openai/",
    ),
    ProviderChoice("custom", "Other server (OpenAI API)", "", local=True, model_prefix="openai/"),
)
CHOICES_BY_ID = {choice.id: choice for choice in CHOICES}
_LOCAL_PREFIXES = ("openai/", "ollama/", "ollama_chat/", "lm_studio/", "hosted_vllm/")


# ------------------------------------------------------------------ logic without widgets


def _env_var(provider: str) -> str | None:
    return secrets.PROVIDER_ENV.get(provider)


def needs_setup(interpreter: Any) -> bool:
    """True when the configured model needs an API key that is nowhere to be found.

    A model reached through `api_base` (a local or custom server), an explicit `llm.api_key`, the
    provider's environment variable and a stored (keyring or session) key all count as usable.
    Providers not known to need a key (e.g. `ollama/...`) never trigger setup.
    """
    llm = interpreter.llm
    model = (getattr(llm, "model", None) or "").strip()
    if not model:
        return True
    if getattr(llm, "api_base", None) or getattr(llm, "api_key", None):
        return False
    provider = secrets.provider_for(model)
    env_name = _env_var(provider)
    if env_name is None:
        return False
    if os.environ.get(env_name):
        return False
    try:
        return not secrets.lookup_api_key(model, api_base=None)
    except Exception:  # noqa: BLE001 - a broken keyring means "no stored key", not a crash
        return True


def apply_setup(interpreter: Any, result: SetupResult) -> str:
    """Point the interpreter at the chosen model, keep the choice, and store the key; returns a sentence.

    The model and server are written to the user's default profile, so the next start needs no setup.
    A key goes to the OS keyring (service "oi-tui"; user = provider, or the server's URL for a custom or
    local server). Without a keyring backend the key is kept for this session only, and the sentence
    says so. The key itself never appears in the sentence. Blocking (keyring, disk): call it off the UI thread.
    """
    llm = interpreter.llm
    llm.model = result.model
    llm.api_base = result.api_base
    where = f"{result.model} at {result.api_base}" if result.api_base else result.model
    parts = [f"Using {where}."]
    try:
        from oi_core.profiles import set_profile_values

        path = set_profile_values(None, {"llm.model": result.model, "llm.api_base": result.api_base})
        parts.append(f"Saved to your default profile ({path}).")
    except Exception as exc:  # noqa: BLE001 - a profile we cannot write must not lose the choice for this session
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        parts.append(f"It could not be saved to your default profile ({reason}), so it applies to this session only.")
    if not result.api_key:
        return " ".join(parts)
    try:
        if result.api_base:  # a server's key is stored for that server, never as the provider's key
            message = secrets.store_server_key(result.api_base, result.api_key)
        else:
            message = secrets.store_api_key(result.provider, result.api_key)
    except Exception as exc:  # noqa: BLE001 - a broken keyring: keep the key for this session, say so
        llm.api_key = result.api_key
        parts.append(f"The key could not be stored ({type(exc).__name__}); it is kept for this session only.")
        return " ".join(parts)
    if "session only" in message:
        llm.api_key = result.api_key
    parts.append(message)
    return " ".join(parts)


def listed_models(body: Any) -> list[str] | None:
    """Model names from a /models (OpenAI), /api/tags (Ollama) or Gemini listing; None when it is not one."""
    if not isinstance(body, dict):
        return None
    entries = body.get("data") if isinstance(body.get("data"), list) else body.get("models")
    if not isinstance(entries, list):
        return None
    names = []
    for entry in entries:
        if isinstance(entry, dict):
            name = entry.get("id") or entry.get("name") or entry.get("model")
            if isinstance(name, str):
                names.append(name.removeprefix("models/"))
    return names


def _bare(model: str, choice: ProviderChoice) -> str:
    """The model name as its server lists it ("ollama/llama3.1" -> "llama3.1", "anthropic/claude-x" -> "claude-x")."""
    if choice.local:
        for prefix in _LOCAL_PREFIXES:
            if model.startswith(prefix):
                return model[len(prefix):]
        return model
    return model.split("/", 1)[1] if "/" in model and model.split("/", 1)[0] == choice.id else model


def _is_listed(model: str, names: list[str]) -> bool:
    return model in names or f"{model}:latest" in names  # Ollama tags a bare name as :latest


async def check_connection(choice: ProviderChoice, model: str, url: str | None, key: str | None) -> tuple[bool, str]:
    """Ask the server whether it is there, accepts the key and lists the model; (ok, a sentence without the key)."""
    verify = await asyncio.to_thread(tls.context)  # the certificate store costs ~80 ms of CPU: not on the UI loop
    import httpx

    headers: dict[str, str] = {}
    if choice.local:
        if not url:
            return False, "Enter the server URL first."
        base = url.rstrip("/")
        target = f"{base}/api/tags" if choice.id == "ollama" else f"{base}/models"
        if key:
            headers["Authorization"] = f"Bearer {key}"
    else:
        assert choice.key_check is not None
        target, header, template = choice.key_check
        if not key:
            return False, "Enter an API key first."
        headers[header] = template.format(key=key)
        if choice.id == "anthropic":
            headers["anthropic-version"] = "2023-06-01"
    try:
        async with httpx.AsyncClient(timeout=8.0, verify=verify) as client:
            response = await client.get(target, headers=headers)
    except httpx.HTTPError as exc:
        return False, secrets.redact(f"Could not reach {target}: {type(exc).__name__}.", extra=[key or ""])
    if response.status_code in (401, 403):
        return False, f"{target} refused the key (HTTP {response.status_code})."
    if response.status_code >= 400:
        return False, f"{target} answered HTTP {response.status_code}."
    try:
        names = listed_models(response.json())
    except ValueError:
        names = None
    if names is None:
        return True, "Connected."
    wanted = _bare(model, choice)
    if not wanted:
        return True, f"Connected ({len(names)} models available): enter one of them as the model."
    if _is_listed(wanted, names):
        return True, f"Connected: {wanted} is available."
    shown = ", ".join(sorted(names)[:6]) + (", …" if len(names) > 6 else "")
    listing = f"; it has: {shown}." if names else "; it lists no models."
    return False, terminal_safe(f"Connected, but the server does not list {wanted}{listing}")


# ------------------------------------------------------------------ the screen


class SetupScreen(ModalScreen["SetupResult | None"]):
    """Pick a provider and key, or a local OpenAI-compatible server, then Save."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    AUTO_FOCUS = "#setup-provider"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="setup.cancel", tooltip="Close without changing anything"),
        Binding("ctrl+s", "save", "Save", id="setup.save", tooltip="Use this model and store the key"),
        Binding("ctrl+t", "test", "Test", id="setup.test", tooltip="Check that the server answers"),
    ]

    def __init__(
        self,
        model: str | None = None,
        api_base: str | None = None,
        *,
        reason: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._initial_model = model
        self._initial_base = api_base
        self._reason = reason
        self.choice = self._initial_choice(model, api_base)
        self._tested: tuple[Any, ...] | None = None  # (choice, model, url, key) of the test shown, if any

    @staticmethod
    def _initial_choice(model: str | None, api_base: str | None) -> ProviderChoice:
        if api_base:
            for choice in CHOICES:
                if choice.local and choice.default_url and api_base.rstrip("/") == choice.default_url:
                    return choice
            return CHOICES_BY_ID["custom"]
        if model:
            return CHOICES_BY_ID.get(secrets.provider_for(model), CHOICES[0])
        return CHOICES[0]

    def compose(self) -> ComposeResult:
        with Vertical(id="setup-dialog") as dialog:
            dialog.border_title = "Welcome to oi-tui"
            yield Static(
                self._reason
                or "oi-tui needs a language model. Choose a provider and paste its API key, "
                "or use a model server running on your machine.",
                id="setup-intro",
                markup=False,
            )
            with Horizontal(id="setup-body"):
                with RadioSet(id="setup-provider"):
                    for choice in CHOICES:
                        yield RadioButton(choice.label, value=choice is self.choice, id=f"choice-{choice.id}")
                with Vertical(id="setup-fields"):
                    yield Label("Server URL", id="setup-url-label", classes="local-only")
                    yield Input(id="setup-url", classes="local-only", placeholder="http://localhost:8000/v1")
                    yield Label("Model", id="setup-model-label")
                    yield Input(id="setup-model")
                    yield Label("API key", id="setup-key-label")
                    yield Input(id="setup-key", password=True, placeholder="paste your key")
                    yield Static("", id="setup-hint", markup=False)
            yield Static("", id="setup-status", markup=False)
            with Horizontal(id="setup-buttons"):
                yield Button("Local model…", id="setup-local")
                yield Button("Test connection", id="setup-test")
                yield Button("Save", id="setup-save", variant="primary")
                yield Button("Cancel", id="setup-cancel")

    def on_mount(self) -> None:
        self._show_choice(self.choice, initial=True)

    # ------------------------------------------------------------ reacting to the form

    def _show_choice(self, choice: ProviderChoice, initial: bool = False) -> None:
        """Adapt the fields to `choice`: URL for servers, key hint naming the environment variable."""
        self.choice = choice
        self.set_class(choice.local, "-local")
        model_input = self.query_one("#setup-model", Input)
        url_input = self.query_one("#setup-url", Input)
        if initial and self._initial_model and secrets.provider_for(self._initial_model) == choice.id:
            model_input.value = self._initial_model
        elif initial and choice.local and self._initial_model:
            model_input.value = self._bare_model(self._initial_model)
        else:
            model_input.value = choice.default_model
        url_input.value = (self._initial_base if initial and self._initial_base else None) or choice.default_url
        model_input.placeholder = "model name as the server lists it" if choice.local else "provider/model"
        key_label = self.query_one("#setup-key-label", Label)
        key_input = self.query_one("#setup-key", Input)
        key_input.value = ""
        if choice.local:
            key_label.update("API key (optional)")
            key_input.placeholder = "only if your server asks for one"
            hint = "Start the server first; Test connection checks that it answers."
        else:
            key_label.update("API key")
            key_input.placeholder = "paste your key"
            env_name = _env_var(choice.id)
            if env_name and os.environ.get(env_name):
                hint = f"{env_name} is set: leave the key empty to use it."
            else:
                hint = "The key goes to your system keyring, never to a file."
                if env_name:
                    hint += f" (Or set {env_name}.)"
        self.query_one("#setup-hint", Static).update(hint)
        self._status("")

    @staticmethod
    def _bare_model(model: str) -> str:
        for prefix in _LOCAL_PREFIXES:
            if model.startswith(prefix):
                return model[len(prefix) :]
        return model

    @on(RadioSet.Changed, "#setup-provider")
    def _provider_changed(self, event: RadioSet.Changed) -> None:
        button_id = event.pressed.id or ""
        choice = CHOICES_BY_ID.get(button_id.removeprefix("choice-"))
        if choice is not None and choice is not self.choice:
            self._show_choice(choice)

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#setup-status", Static)
        status.update(text)
        status.set_class(error, "-error")
        status.set_class(bool(text) and not error, "-ok")

    def _form(self) -> tuple[str, str | None, str | None]:
        model = self.query_one("#setup-model", Input).value.strip()
        url = self.query_one("#setup-url", Input).value.strip() if self.choice.local else None
        key = self.query_one("#setup-key", Input).value.strip() or None
        return model, url, key

    def result_from_form(self) -> SetupResult | str:
        """The result the form describes, or a sentence saying what is missing."""
        choice = self.choice
        model, url, key = self._form()
        if choice.local:
            if not url:
                return "Enter the server URL, e.g. http://localhost:11434."
            if not url.startswith(("http://", "https://")):
                return "The server URL must start with http:// or https://."
            if not model:
                return "Enter the model name (as the server lists it)."
            if not model.startswith(_LOCAL_PREFIXES):
                model = choice.model_prefix + model
            return SetupResult(model=model, api_base=url.rstrip("/"), api_key=key, provider=choice.id)
        if not model:
            return "Enter a model name."
        provider = secrets.provider_for(model)
        env_name = _env_var(provider)
        if not key and not (env_name and os.environ.get(env_name)):
            return f"Enter your {choice.label} API key."
        return SetupResult(model=model, api_base=None, api_key=key, provider=provider)

    # ------------------------------------------------------------ actions

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#setup-save")
    def action_save(self) -> None:
        """Dismiss with the result, or explain what is missing."""
        result = self.result_from_form()
        if isinstance(result, str):
            self._status(result, error=True)
            return
        self.dismiss(result)

    @on(Button.Pressed, "#setup-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#setup-local")
    def action_local_models(self) -> None:
        """Hand over to the local model picker: it finds the servers running here and applies the choice."""
        from .local_models import open_local_models

        app = self.app
        self.dismiss(None)
        open_local_models(app)

    @on(Button.Pressed, "#setup-test")
    def action_test(self) -> None:
        model, url, key = self._form()
        if not self.choice.local and not key:
            env_name = _env_var(self.choice.id)
            key = os.environ.get(env_name) if env_name else None
        self._status("Testing…")
        self._tested = (self.choice.id, *self._form())
        self._run_test(self._tested, self.choice, model, url, key)

    @on(Input.Changed, "#setup-url")
    @on(Input.Changed, "#setup-model")
    @on(Input.Changed, "#setup-key")
    def _form_changed(self) -> None:
        """A test result describes the server and model it tested: another URL or model clears it."""
        if self._tested is not None and self._tested != (self.choice.id, *self._form()):
            self._tested = None
            self.workers.cancel_group(self, "setup-test")
            self._status("")

    @work(exclusive=True, group="setup-test", exit_on_error=False)
    async def _run_test(self, tested: tuple[Any, ...], choice: ProviderChoice, model: str, url: str | None,
                        key: str | None) -> None:
        ok, message = await check_connection(choice, model, url, key)
        self.post_message(self.ConnectionChecked(tested, ok, message))

    @dataclass
    class ConnectionChecked(Message):
        """Test connection finished for the form as it was when the test started."""

        tested: tuple[Any, ...]
        ok: bool
        message: str

    @on(ConnectionChecked)
    def _connection_checked(self, event: ConnectionChecked) -> None:
        if event.tested == self._tested:
            self._status(event.message, error=not event.ok)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "setup-test" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self._status(f"The connection test failed: {type(error).__name__}: {error}", error=True)


__all__ = ["CHOICES", "ProviderChoice", "SetupResult", "SetupScreen", "apply_setup", "check_connection", "needs_setup"]
