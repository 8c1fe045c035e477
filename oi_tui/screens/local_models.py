"""The local model picker: which servers run here, what models each holds, choose one, save it as a profile.

    open_local_models(app)          # push the picker; the choice is applied to app.interpreter
    check_local_model(app)          # `--model ollama/NAME`: check the model, offer to download it

Probing, reading model details and saving happen in workers that only post messages (`ServersProbed`,
`ModelResolved`, `ModelResolveFailed`); the handlers below own every widget. A server that is down is
listed with the one thing that starts it and a Retry; nothing here exits the app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from oi_core.events import SettingChanged
from oi_core.local_check import check_ollama_model, settings_to_fill
from oi_core.local_models import (
    OLLAMA,
    LocalChoice,
    LocalModelError,
    LocalServer,
    ServerStatus,
    normalize_url,
    probe_all,
    resolve,
)
from oi_core.local_profile import check_profile_name, profile_name_for
from oi_core.local_pull import human_bytes
from oi_core.sanitize import terminal_safe

from .local_pull import LocalPullScreen


@dataclass(frozen=True)
class LocalPick:
    """What the picker dismisses with: the model's settings and where to save them."""

    choice: LocalChoice
    profile_name: str | None = None
    make_default: bool = False


@dataclass
class ServersProbed(Message):
    """Fresh results for every server; `focus_url` / `focus_model` say what to select afterwards."""

    statuses: list[ServerStatus]
    focus_url: str | None = None
    focus_model: str | None = None


@dataclass
class ModelResolved(Message):
    """A model's details arrived and became settings."""

    choice: LocalChoice


@dataclass
class ModelResolveFailed(Message):
    """A model's details could not be read."""

    server_url: str
    name: str
    message: str


@dataclass
class _Selection:
    """Which server and model the lists show, and what was resolved so far."""

    statuses: list[ServerStatus] = field(default_factory=list)
    server_url: str | None = None
    model: str | None = None
    choices: dict[tuple[str, str], LocalChoice] = field(default_factory=dict)
    use_when_resolved: tuple[str, str] | None = None


class LocalModelsScreen(ModalScreen["LocalPick | None"]):
    """Find local model servers, list their models, pick one (dismisses with a LocalPick, or None)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    AUTO_FOCUS = "#local-servers"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="local_models.cancel", tooltip="Close without changing the model"),
        Binding("ctrl+s", "use", "Use model", id="local_models.use", tooltip="Use the highlighted model"),
        Binding("f5", "retry", "Retry", id="local_models.retry", tooltip="Look for the servers again"),
    ]

    def __init__(self, extra_urls: tuple[str, ...] | list[str] = (), *,
                 servers: Sequence[LocalServer] | None = None) -> None:
        """`servers`: where to look (the known local servers when None); `extra_urls`: addresses to add."""
        super().__init__()
        self.extra_urls: list[str] = list(extra_urls)
        self.servers = list(servers) if servers is not None else None
        self.selection = _Selection()
        self._auto_profile_name = ""

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="local-dialog") as dialog:
            dialog.border_title = "Local models"
            yield Static("Model servers on this machine, and any address you add.", id="local-intro")
            with Horizontal(id="local-lists"):
                servers = OptionList(id="local-servers")
                servers.border_title = "Servers"
                yield servers
                yield OptionList(id="local-models")
            yield Static("", id="local-detail", markup=False)
            with Vertical(id="local-rows"):
                with Horizontal(classes="local-row"):
                    yield Input(placeholder="add a server: http://HOST:PORT/v1", id="local-url", compact=True)
                    yield Button("Add", id="local-add", compact=True)
                    yield Button("Retry (F5)", id="local-retry", compact=True)
                with Horizontal(classes="local-row", id="local-pull-row"):
                    yield Input(placeholder="model to download into Ollama, e.g. llama3.2", id="local-pull-name",
                                compact=True)
                    yield Button("Download", id="local-pull", compact=True)
                with Horizontal(classes="local-row"):
                    yield Checkbox("Save as profile", True, id="local-save", compact=True)
                    yield Input(id="local-profile-name", compact=True)
                    yield Checkbox("Make it the default", False, id="local-default", compact=True)
            yield Static("", id="local-status", markup=False)
            with Horizontal(id="local-buttons"):
                yield Button("Use model (ctrl+s)", id="local-use", variant="primary", compact=True)
                yield Button("Cancel", id="local-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#local-pull-row").display = False
        self.refresh_servers()

    # ------------------------------------------------------------ probing

    def refresh_servers(self, focus_url: str | None = None, focus_model: str | None = None) -> None:
        """Probe every server again (concurrently, off the UI thread)."""
        self._status("Looking for local model servers…")
        self._probe(tuple(self.extra_urls), focus_url, focus_model)

    @work(group="local-probe", exclusive=True, exit_on_error=False)
    async def _probe(self, extra_urls: tuple[str, ...], focus_url: str | None, focus_model: str | None) -> None:
        statuses = await probe_all(extra_urls, servers=self.servers)
        self.post_message(ServersProbed(statuses, focus_url, focus_model))

    @on(ServersProbed)
    def show_servers(self, event: ServersProbed) -> None:
        selection = self.selection
        selection.statuses = event.statuses
        servers = self.query_one("#local-servers", OptionList)
        servers.clear_options()
        servers.add_options(Option(self._server_line(status)) for status in event.statuses)
        wanted = event.focus_url or selection.server_url
        # a typed bare address may have answered as its …/v1 API
        index = next((i for i, s in enumerate(event.statuses) if wanted and s.server.url in (wanted, f"{wanted}/v1")),
                     None)
        if index is None:
            index = next((i for i, s in enumerate(event.statuses) if s.up and s.models), None)
        if index is None:
            index = next((i for i, s in enumerate(event.statuses) if s.up), 0)
        up = sum(1 for s in event.statuses if s.up)
        self._status(f"{up} of {len(event.statuses)} servers running." if up else
                     "No local model server is running: start one (see below), then Retry.")
        if event.statuses:
            servers.highlighted = index
            self._show_server(event.statuses[index], event.focus_model)
            if event.statuses[index].models:
                self.query_one("#local-models", OptionList).focus()

    @staticmethod
    def _server_line(status: ServerStatus) -> Text:
        line = Text()
        line.append("● " if status.up else "○ ", style="bold green" if status.up else "dim")
        line.append(terminal_safe(status.server.kind.label if status.server.kind.port else status.server.address))
        line.append(f"  {status.summary}", style="dim")
        return line

    def _current(self) -> ServerStatus | None:
        url = self.selection.server_url
        return next((s for s in self.selection.statuses if s.server.url == url), None)

    @on(OptionList.OptionHighlighted, "#local-servers")
    def _server_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        statuses = self.selection.statuses
        status = statuses[event.option_index] if 0 <= event.option_index < len(statuses) else None
        if status is not None and status.server.url != self.selection.server_url:
            self._show_server(status)

    def _show_server(self, status: ServerStatus, focus_model: str | None = None) -> None:
        """Fill the model list for `status`, or explain why it is empty."""
        self.selection.server_url = status.server.url
        self.selection.model = None
        models = self.query_one("#local-models", OptionList)
        models.border_title = terminal_safe(f"Models on {status.server.kind.label}")
        models.clear_options()
        models.add_options(Option(self._model_line(model)) for model in status.models)
        self.query_one("#local-pull-row").display = status.up and status.server.kind is OLLAMA
        if not status.up:
            if status.summary == "needs a key":  # running, but locked: starting it again would not help
                self._detail(f"{status.server.label}: {status.problem}.")
            else:
                self._detail(f"{status.server.label}: {status.problem}.\nTo start it: "
                             f"{status.server.kind.start_hint}, then Retry (F5).")
            return
        if not status.models:
            if status.server.kind is OLLAMA:
                self._detail(f"{status.server.label} has no models yet: type a name below and Download it.")
            else:
                self._detail(f"{status.server.label} lists no models: load or download one in {status.server.kind.label}.")
            return
        names = [m.name for m in status.models]
        index = names.index(focus_model) if focus_model in names else 0
        models.highlighted = index
        self._show_model(names[index])

    @staticmethod
    def _model_line(model: Any) -> Text:
        line = Text(terminal_safe(model.name))
        extra = " ".join(part for part in (human_bytes(model.size) if model.size else "", model.detail) if part)
        if extra:
            line.append(f"  {terminal_safe(extra)}", style="dim")
        return line

    # ------------------------------------------------------------ models

    @on(OptionList.OptionHighlighted, "#local-models")
    def _model_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        status = self._current()
        if status is None or not 0 <= event.option_index < len(status.models):
            return
        name = status.models[event.option_index].name
        if name != self.selection.model:
            self._show_model(name)

    def _show_model(self, name: str) -> None:
        status = self._current()
        if status is None:
            return
        self.selection.model = name
        choice = self.selection.choices.get((status.server.url, name))
        if choice is not None:
            self._show_choice(choice)
            return
        self._detail(f"{name}: reading its details…")
        self._resolve(status, name)

    @work(group="local-resolve", exclusive=True, exit_on_error=False)
    async def _resolve(self, status: ServerStatus, name: str) -> None:
        try:
            choice = await resolve(status, name)
        except LocalModelError as exc:
            self.post_message(ModelResolveFailed(status.server.url, name, exc.message))
            return
        self.post_message(ModelResolved(choice))

    @on(ModelResolved)
    def _resolved(self, event: ModelResolved) -> None:
        choice = event.choice
        key = (choice.server.url, choice.name)
        self.selection.choices[key] = choice
        if (self.selection.server_url, self.selection.model) == key:
            self._show_choice(choice)
        if self.selection.use_when_resolved == key:
            self.selection.use_when_resolved = None
            self.action_use()

    @on(ModelResolveFailed)
    def _resolve_failed(self, event: ModelResolveFailed) -> None:
        if self.selection.use_when_resolved == (event.server_url, event.name):
            self.selection.use_when_resolved = None
        if (self.selection.server_url, self.selection.model) == (event.server_url, event.name):
            self._detail(event.message)

    def _show_choice(self, choice: LocalChoice) -> None:
        self._detail("\n".join([choice.description, *choice.notes]))
        name_input = self.query_one("#local-profile-name", Input)
        if name_input.value in ("", self._auto_profile_name):
            self._auto_profile_name = profile_name_for(choice)
            name_input.value = self._auto_profile_name

    @on(OptionList.OptionSelected, "#local-models")
    def _model_chosen(self) -> None:
        self.action_use()

    # ------------------------------------------------------------ actions

    def action_use(self) -> None:
        """Dismiss with the highlighted model (reading its details first if they have not arrived)."""
        status = self._current()
        name = self.selection.model
        if status is None or not status.up:
            self._status("Choose a running server first.", error=True)
            return
        if name is None:
            self._status("Choose a model first.", error=True)
            return
        profile_name: str | None = None
        if self.query_one("#local-save", Checkbox).value:
            try:
                profile_name = check_profile_name(self.query_one("#local-profile-name", Input).value)
            except ValueError as exc:
                self._status(str(exc), error=True)
                return
        key = (status.server.url, name)
        choice = self.selection.choices.get(key)
        if choice is None:
            self.selection.use_when_resolved = key
            self._status(f"Reading {name}'s details…")
            return
        self.dismiss(LocalPick(choice, profile_name, self.query_one("#local-default", Checkbox).value))

    @on(Button.Pressed, "#local-use")
    def _use_pressed(self) -> None:
        self.action_use()

    @on(Button.Pressed, "#local-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#local-retry")
    def action_retry(self) -> None:
        self.refresh_servers()

    @on(Button.Pressed, "#local-add")
    @on(Input.Submitted, "#local-url")
    def add_server(self) -> None:
        """Probe the typed address along with the others."""
        field_ = self.query_one("#local-url", Input)
        try:
            url = normalize_url(field_.value)
        except LocalModelError as exc:
            self._status(exc.message, error=True)
            return
        if url not in self.extra_urls:
            self.extra_urls.append(url)
        field_.value = ""
        self.refresh_servers(focus_url=url)

    @on(Button.Pressed, "#local-pull")
    @on(Input.Submitted, "#local-pull-name")
    def download(self) -> None:
        """Pull the typed model into the selected Ollama server, then list it."""
        status = self._current()
        name = self.query_one("#local-pull-name", Input).value.strip()
        if status is None or status.server.kind is not OLLAMA or not status.up:
            self._status("Downloading works with a running Ollama server: select it first.", error=True)
            return
        if not name:
            self._status("Type the name of the model to download, e.g. llama3.2.", error=True)
            return
        url = status.server.url

        def downloaded(ok: bool | None) -> None:
            if ok:
                self.query_one("#local-pull-name", Input).value = ""
                self.refresh_servers(focus_url=url, focus_model=_listed_name(name))
            else:
                self._status(f"{name} was not downloaded.", error=True)

        self.app.push_screen(LocalPullScreen(url, name), downloaded)

    # ------------------------------------------------------------ messages to the user

    def _detail(self, text: str) -> None:
        self.query_one("#local-detail", Static).update(terminal_safe(text))

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#local-status", Static)
        status.update(terminal_safe(text))
        status.set_class(error, "-error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that fails unexpectedly is reported here, never silently."""
        if event.state == WorkerState.ERROR and event.worker.group in ("local-probe", "local-resolve"):
            error = event.worker.error
            what = "Looking for servers" if event.worker.group == "local-probe" else "Reading the model's details"
            self._status(f"{what} failed: {type(error).__name__}: {error}", error=True)


def _listed_name(name: str) -> str:
    """How Ollama lists a pulled model ("llama3.2" is listed as "llama3.2:latest")."""
    return name if ":" in name else f"{name}:latest"


# ---------------------------------------------------------------- applying a choice to the app


def apply_pick(app: App[Any], pick: LocalPick, keep: Mapping[str, Any] | None = None) -> None:
    """Point the running interpreter at the chosen model (through the bus) and save the profile off the UI thread.

    `keep` holds settings given explicitly on the command line (`--max_tokens 1000`): they win over the pick.
    """
    client = app.client  # type: ignore[attr-defined]
    for path, value in {**pick.choice.settings(), **(keep or {})}.items():
        client.publish(SettingChanged(path, value))
    app.notify(terminal_safe(f"Using {pick.choice.description}."), title="Local model", timeout=6)
    if pick.profile_name:
        app.run_worker(lambda: _save(app, pick), thread=True, group="local-save", exit_on_error=False)


def _save(app: App[Any], pick: LocalPick) -> None:
    """Write the profile (a thread worker); the outcome is a notification either way."""
    from oi_core.errors import OiError
    from oi_core.local_profile import save_profile

    assert pick.profile_name is not None
    try:
        _, message = save_profile(pick.choice, pick.profile_name, make_default=pick.make_default)
        severity = "information"
    except (OSError, ValueError, OiError) as exc:
        message = f"Could not save the profile {pick.profile_name}: {getattr(exc, 'message', None) or exc}"
        severity = "error"
    except Exception as exc:  # noqa: BLE001 - anything else is still reported, never lost in the worker
        message = f"Saving the profile {pick.profile_name} failed: {type(exc).__name__}: {exc}"
        severity = "error"
    app.call_from_thread(app.notify, terminal_safe(message), title="Profiles", severity=severity, timeout=8)


def open_local_models(app: App[Any], *, extra_urls: tuple[str, ...] | list[str] = (),
                      keep: Mapping[str, Any] | None = None, servers: Sequence[LocalServer] | None = None) -> None:
    """Show the picker over `app`; a choice is applied to `app.interpreter`, a cancel changes nothing.

    `extra_urls` are probed besides the known servers (`servers`, the usual local ports by default); `keep`
    holds settings given explicitly on the command line, which win over the picked model's.
    """
    if any(isinstance(screen, LocalModelsScreen) for screen in app.screen_stack):
        return

    def picked(pick: LocalPick | None) -> None:
        if pick is None:
            model = app.client.state.model  # type: ignore[attr-defined]
            app.notify(terminal_safe(f"No local model chosen: still using {model}."), title="Local models", timeout=5)
            return
        apply_pick(app, pick, keep)

    app.push_screen(LocalModelsScreen(extra_urls, servers=servers), picked)


def check_local_model(app: App[Any]) -> None:
    """`--model ollama/NAME`: check the model on the host it will use, fill unset settings, offer a missing one."""
    app.run_worker(_check_and_offer(app), group="local-check", exit_on_error=False)


async def _check_and_offer(app: App[Any]) -> None:
    """A worker on the app's loop: awaits the network, asks through the app's dialogs, applies through the bus."""
    from .confirm import ConfirmScreen

    interpreter = app.interpreter  # type: ignore[attr-defined]
    llm = interpreter.llm
    try:
        check = await check_ollama_model(llm.model, llm.api_base)
        if check.state == "missing":
            question = f"{check.message} Download it now?"
            if await app.push_screen_wait(ConfirmScreen(question, yes="Download", no="Not now")):
                if await app.push_screen_wait(LocalPullScreen(check.host, check.name)):
                    check = await check_ollama_model(llm.model, llm.api_base)
                    app.notify(f"{check.name} is ready.", title="Ollama", timeout=5)
                else:
                    app.notify(f"{check.name} was not downloaded: choose another model with Local model… (ctrl+p).",
                               title="Ollama", severity="warning", timeout=10)
            else:
                app.notify(f"{check.message} Download it with `ollama pull {check.name}`, or choose another model "
                           "with Local model… (ctrl+p).", title="Ollama", severity="warning", timeout=10)
        elif check.state == "down":
            app.notify(f"{check.message} Then send your message.", title="Ollama", severity="warning", timeout=10)
        for path, value in settings_to_fill(llm, check).items():
            app.client.publish(SettingChanged(path, value))  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, never lost in a worker
        app.notify(f"Checking {llm.model} failed: {type(exc).__name__}: {exc}", title="Ollama", severity="error")


__all__ = [
    "LocalModelsScreen",
    "LocalPick",
    "ModelResolveFailed",
    "ModelResolved",
    "ServersProbed",
    "apply_pick",
    "check_local_model",
    "open_local_models",
]
