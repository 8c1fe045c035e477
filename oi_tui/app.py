"""OiApp: the full-screen oi-tui application.

Startup stays light: nothing here imports litellm or starts a kernel. The Session is created on
mount and warmed up after the first frame, so the prompt is ready at once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import Provider, SimpleCommand
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from oi_core.client import CoreClient
from oi_core.events import InfoShown, MessagesReplaced, SettingChanged, SettingsApplied
from oi_core.secrets import redact
from oi_core.sanitize import terminal_safe

from . import logfile, shutdown
from .checkpoint_actions import CheckpointActions
from .gc_policy import GcPolicy, restore_defaults, wait_for_litellm
from .screens.chat import ChatScreen
from .stylesheet import ParseOnceStylesheet
from .themes import choose_theme, remember_theme_changes
from .preload import preload_after_first_frame


log = logging.getLogger("oi_tui.app")


def _own_edit_actions(widget: type, *left_to_textual: str) -> frozenset[str]:
    """The actions of a text widget's own bindings (editing, cursor, submit), run in its queue in typing order.

    Other bindings it inherits (scrolling) can decline and let the key go on to the screen, so they keep
    Textual's path, as do `left_to_textual`: "copy" declines (SkipAction) with nothing selected so ctrl+c goes on
    to stop a turn, and the prompt's own key handler walks its history with up/down.
    """
    bindings = widget.__dict__["BINDINGS"]
    actions = {binding.action if isinstance(binding, Binding) else binding[1] for binding in bindings}
    return frozenset(actions - {"copy", *left_to_textual})


#: Which focused text widgets keep their keys in typing order, and with which of their actions.
_IN_ORDER_ACTIONS = (
    (Input, _own_edit_actions(Input)),
    (TextArea, _own_edit_actions(TextArea, "cursor_up", "cursor_up(True)", "cursor_down", "cursor_down(True)",
                                 "cursor_page_up", "cursor_page_down")),
)

#: Seconds a lone Esc waits for the rest of a possible key sequence (Textual: 100 ms; ESCDELAY overrides).
#: Sequences from a terminal arrive in one read; half the default makes Esc (stop, don't run) snappier.
ESCAPE_DELAY = 0.05

#: A key pressed this recently means the user is typing (OiApp.typing): the reply's redraws and the rest of
#: start-up wait for a pause.
TYPING_QUIET = 0.25

#: What each worker group does, for the sentence that says it failed.
WORKER_DESCRIPTIONS = {
    "bus-bridge": "Showing the core's events (restart oi-tui if the screen stops updating)",
    "startup": "Checking the model setup", "setup": "Applying the setup", "resume": "Opening the conversation",
    "export": "Exporting the conversation",
}


def editor_command() -> tuple[list[str], str]:
    """The editor to run ($VISUAL, $EDITOR, else nano or vi if installed) and a sentence if there is none."""
    configured = os.environ.get("VISUAL") or os.environ.get("EDITOR") or ""
    if configured:
        try:
            command = shlex.split(configured)
        except ValueError as exc:
            return [], f"$EDITOR / $VISUAL ({configured!r}) cannot be read as a command: {exc}."
        if not command or shutil.which(command[0]) is None:
            return [], f"The editor {configured!r} ($EDITOR / $VISUAL) was not found: set it to an installed editor."
        return command, ""
    for fallback in ("nano", "vim", "vi"):
        if shutil.which(fallback):
            return [fallback], ""
    return [], "No editor found: set $EDITOR (for example `export EDITOR=nano`) and try again."


def palette_commands_provider() -> type[Provider]:
    """oi-tui's palette entries, imported when the palette first opens rather than on the launch path."""
    from .commands import OiCommands

    return OiCommands


class OiApp(CheckpointActions):  # CheckpointActions is an App: undo, rewind and run changes
    """The oi-tui app over one OpenInterpreter and its Session."""

    TITLE = "oi-tui"
    CSS_PATH = [Path(__file__).with_suffix(".tcss"), ChatScreen.CSS_PATH]  # the chat screen's is read with the app's
    COMMANDS = App.COMMANDS | {palette_commands_provider}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, tooltip="Quit (asks first while something runs)"),
        Binding("ctrl+n", "new_conversation", "New", id="new_conversation", tooltip="Start a new conversation"),
        Binding("ctrl+o", "open_conversations", "History", id="open_conversations",
                tooltip="Browse and resume past conversations"),
    ]

    def __init__(
        self,
        interpreter: Any = None,
        *,
        client: CoreClient | None = None,
        start_in_conversations: bool = False,
        startup_warnings: list[str] | None = None,
        on_ready: Callable[["OiApp"], None] | None = None,
    ) -> None:
        for name in ("COLUMNS", "LINES"):  # exported, they would pin Textual's idea of the terminal's size
            os.environ.pop(name, None)
        super().__init__()
        self.stylesheet = ParseOnceStylesheet(variables=self.get_css_variables())
        self.log_file = logfile.install()  # failures told in one sentence keep their traceback there
        if client is None:
            from oi_core.client_local import LocalClient

            client = LocalClient(interpreter)
        self.client = client
        """The core, in this process or on a server: the app talks to it only through this interface."""
        self.interpreter = client.interpreter  # None for a remote core; kept for tests and plugins
        self.start_in_conversations = start_in_conversations
        self.on_ready = on_ready
        """Called once the chat screen is up and no setup is needed (e.g. `--local` opens the model picker)."""
        self.startup_warnings = list(startup_warnings or [])
        self._session_closed = False  # not `_closed`: Textual's MessagePump uses that name for its queue
        self.last_key_time = 0.0
        """When the key being handled (or the last one) was pressed: approval ignores keys typed ahead."""
        self._after_typing: list[Callable[[], object]] = []  # see when_typing_pauses
        self._typing_pause_timer: Timer | None = None
        self.gc_policy: GcPolicy | None = None
        """Set after the first frame (`_start_gc_policy`)."""
        self.theme_problems = choose_theme(self)
        """Broken theme files or a saved theme that is gone: told once the app runs."""
        if "ESCDELAY" not in os.environ:  # Textual waits this long to tell Esc from a key sequence (100 ms)
            from textual import constants

            constants.ESCAPE_DELAY = ESCAPE_DELAY

    # ------------------------------------------------------------ lifecycle

    def get_default_screen(self) -> ChatScreen:
        """The chat screen, as the default screen rather than a mode: Textual awaited a mode's mount inside its
        start-up batch, where the first render was made and dropped (the first frame written was the footer)."""
        return ChatScreen()

    def get_driver_class(self) -> type[Any]:
        """Textual's driver; in a Linux or macOS terminal, the one that hands a lone Esc on when it is due."""
        driver = super().get_driver_class()
        if driver.__module__ == "textual.drivers.linux_driver":  # Esc came up to 0.1 s late (escape_driver)
            from .escape_driver import PromptEscapeDriver

            return PromptEscapeDriver
        return driver

    def on_mount(self) -> None:
        """Runs before the chat screen composes (it is the default screen, mounted right after the app)."""
        if not self.client.remote:
            self.client.attach()  # type: ignore[attr-defined]  # the in-process Session needs the running loop
        shutdown.for_app(self)  # SIGTERM/SIGHUP: stop, end kernels and shells, save, exit
        remember_theme_changes(self, self.theme_problems)  # the theme itself was chosen in __init__
        self._apply_keymap()
        for warning in self.startup_warnings:
            self.notify(warning, title="Startup", severity="warning", timeout=10)

    @on(events.Ready)  # sent once the chat screen's first frame is on the terminal
    def _after_first_frame(self) -> None:
        """The rest of the start-up waits for a pause in typing: run at once, it held a key typed right after the
        first frame ~100 ms (the kernel's spawn, imports in threads, the card's widgets)."""
        self._start_gc_policy()
        if self.client.remote:  # connected by the command line already; this binds it to the app's loop, now
            # that the chat screen listens to the bus (the state it publishes would be lost before)
            self.run_worker(self._connect(), group="connect", exit_on_error=False)
        # a key typed right after the first frame counts too: wait one quiet period before asking
        self.set_timer(TYPING_QUIET, lambda: self.when_typing_pauses(self._finish_start_up_now))

    def typing(self) -> bool:
        """A key was pressed in the last TYPING_QUIET seconds: work that can wait, waits."""
        return time.monotonic() - self.last_key_time < TYPING_QUIET

    def when_typing_pauses(self, callback: Callable[[], object]) -> None:
        """Run `callback` once no key has been pressed for TYPING_QUIET s: now if none was, else at the pause.

        A callback already waiting is not added twice; none runs once the app is closing (its screens may be
        emptied already).
        """
        if not self.typing():
            callback()
            return
        if callback not in self._after_typing:
            self._after_typing.append(callback)
        if self._typing_pause_timer is None:
            self._typing_pause_timer = self.set_timer(self._quiet_left(), self._run_after_typing)

    def _quiet_left(self) -> float:
        return max(0.01, TYPING_QUIET - (time.monotonic() - self.last_key_time))

    def _run_after_typing(self) -> None:
        self._typing_pause_timer = None
        if not self.is_running:
            self._after_typing.clear()
            return
        if self.typing():
            self._typing_pause_timer = self.set_timer(self._quiet_left(), self._run_after_typing)
            return
        callbacks, self._after_typing = self._after_typing, []
        for callback in callbacks:
            callback()

    def _finish_start_up_now(self) -> None:
        chat = self.chat_screen
        if chat is not None:
            chat.mount_hidden_parts()
        self.client.warm_up()
        self.run_worker(self._finish_start_up(), group="startup", exit_on_error=False)
        if self.client.remote:  # keys and models are the server's business
            self._setup_checked(False)
            return
        # The key lookup may wait on the OS keyring (D-Bus): never on the UI thread.
        self.run_worker(self._check_setup, thread=True, group="startup", exit_on_error=False)
        self.run_worker(self._say_approval_notices(), group="startup", exit_on_error=False)

    async def _finish_start_up(self) -> None:
        """Load what the first reply's widgets need, wait for the kernel, then freeze all that (see gc_policy):
        left to the collector, its ~35 ms full collections held keys typed during a reply up to ~160 ms."""
        await asyncio.to_thread(preload_after_first_frame)
        await self.client.warmed_up()
        if self.gc_policy is not None:
            self.gc_policy.freeze()

    async def _say_approval_notices(self) -> None:
        """Auto-run, safe mode without semgrep, allow rules: said once at start, as every front end does."""
        from oi_core.approval import startup_notices

        notices = await asyncio.to_thread(startup_notices, self.interpreter)  # may look for semgrep on disk
        if notices:  # in the conversation (a toast would cover the prompt), the status line keeps it visible
            self.client.bus.publish(InfoShown("\n".join(notices)))

    def _start_gc_policy(self) -> None:
        """No full garbage collection while the user types or a reply streams (see gc_policy)."""
        self.gc_policy = GcPolicy(lambda: self.last_key_time, lambda: self.busy)
        self.gc_policy.start()
        if not self.client.remote:
            self.gc_policy.freeze_after(wait_for_litellm)  # litellm's ~300,000 objects, once imported
        self.set_interval(5.0, self._gc_tick, name="gc-policy")

    def _gc_tick(self) -> None:
        self._release_gc_after_typing()  # typing for HOLD_LIMIT s: held no longer
        if self.gc_policy is not None:
            self.gc_policy.tick()

    def _release_gc_after_typing(self) -> None:
        if self.gc_policy is not None:
            self.gc_policy.release_after_typing(self.typing())

    async def _connect(self) -> None:
        """Attach to the remote core; if it cannot be used, say why and leave (the terminal is restored)."""
        from oi_core.errors import OiError

        try:
            await self.client.start()
        except OiError as exc:
            self.exit(return_code=1, message=exc.message)
            return
        state = self.client.state  # the screen may have subscribed after the state arrived: show it now
        self.client.bus.publish(MessagesReplaced(len(state.messages)))
        self.client.bus.publish(SettingsApplied({}, state.profile))
        self.notify(f"Connected to {self.client.describe()} · {state.model or 'no model'}", title="Server", timeout=5)

    def _check_setup(self) -> None:
        needed = self._needs_setup()
        try:
            self.call_from_thread(self._setup_checked, needed)
        except RuntimeError:  # the app closed meanwhile
            pass

    def _setup_checked(self, needed: bool) -> None:
        if needed:
            self.action_set_api_key()
        elif self.start_in_conversations:
            self.action_open_conversations()
        if not needed and self.on_ready is not None:
            self.on_ready(self)

    def binding_ids(self) -> set[str]:
        """Ids of every binding a keymap may override: the app's, the chat screen's and its widgets'."""
        owners: list[type] = [type(self), ChatScreen]
        for module, names in (
            (".screens.confirm", ("ConfirmScreen",)),
            (".widgets.approval_card", ("ApprovalCard",)),
            (".widgets.prompt_input", ("PromptInput",)),
            (".widgets.code_editor", ("CodeEditor",)),
            (".widgets.console", ("ConsolePane",)),
            (".widgets.transcript", ("Transcript", "EarlierMessages")),
            (".screens.navigator", ("NavigatorScreen",)),
            (".screens.diff", ("DiffScreen",)),
            (".screens.setup", ("SetupScreen",)),
            (".screens.local_models", ("LocalModelsScreen",)),
            (".screens.local_pull", ("LocalPullScreen",)),
            (".screens.allow_rules", ("AllowRulesScreen",)),
            (".widgets.conversation_dialogs", ("ConversationPromptDialog",)),
        ):
            imported = importlib.import_module(module, __package__)
            owners.extend(getattr(imported, name) for name in names if hasattr(imported, name))
        ids: set[str] = set()
        for owner in owners:
            for cls in getattr(owner, "__mro__", ()):
                for binding in cls.__dict__.get("BINDINGS", ()) or ():
                    binding_id = getattr(binding, "id", None)
                    if binding_id:
                        ids.add(binding_id)
        return ids

    def _apply_keymap(self) -> None:
        """The user's keymap.yaml, checked against every binding id (only when there is one: the ids cost imports)."""
        from .keymap import keymap_path, load_keymap

        path = keymap_path()
        if not path.exists():
            return
        keymap, problems = load_keymap(path, known_ids=self.binding_ids())
        if keymap:
            self.update_keymap(keymap)
        for problem in problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=8)

    def _needs_setup(self) -> bool:
        """needs_setup reads a broken keyring as "no key"; any other failure is told as a worker failure."""
        from .screens.setup import needs_setup

        return bool(needs_setup(self.interpreter))

    async def close_session(self) -> None:
        """Stop what runs and shut the languages down (idempotent)."""
        if self._session_closed:
            return
        self._session_closed = True
        try:
            await self.client.close()
        except Exception:
            pass

    async def on_unmount(self) -> None:
        await self.close_session()
        if self.gc_policy is not None:
            restore_defaults()  # another app in this process (tests) starts from Python's defaults

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's palette entries, less its Theme entry: OiCommands offers "Theme…" for the same action."""
        for command in super().get_system_commands(screen):
            if command.callback != self.action_change_theme:
                yield command

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_key_time = event.time  # when the key was read, however late it is handled
            self.client.user_typed()
            if self.gc_policy is not None:
                self.gc_policy.hold_while_typing()
                self.when_typing_pauses(self._release_gc_after_typing)
            if not event.is_forwarded and self._key_in_order(event):
                return
        await super().on_event(event)

    def _key_in_order(self, event: events.Key) -> bool:
        """Run a text field's own key binding (backspace, delete, ctrl+w, arrows) in its queue, in typing order.

        Textual inserts a typed character when the field handles the key, but runs the field's bindings
        only once the key has bubbled up to the app; while the loop is busy a later character can overtake
        an earlier backspace (the palette read "cswt" for "convers⌫⌫⌫⌫⌫⌫⌫switch prof⌫…them"). Queuing the
        action on the field keeps the order. The same holds for a TextArea (the prompt: "abcdef" then two
        Lefts then "X" typed while a reply streamed put the X at the end). Their own key handlers take
        printable keys only, so every other key is one of their bindings or not theirs at all.
        """
        focused = self.focused
        edit_actions = next((actions for kind, actions in _IN_ORDER_ACTIONS if isinstance(focused, kind)), None)
        if event.is_printable or edit_actions is None:
            return False
        active = self.screen.active_bindings.get(event.key)
        if active is None or active.node is not focused or active.binding.priority or not active.enabled:
            return False
        if active.binding.action not in edit_actions:  # e.g. "down" (scroll): may fall through to the screen
            return False
        focused.call_later(self.run_action, active.binding.action, focused)
        return True

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every toast passes the terminal sanitiser, and is plain text unless a caller asks for markup.

        Messages carry text that is not ours (server errors, paths, exceptions): `[/]` in one must
        not crash the app, and an escape sequence in one must not reach the terminal.
        """
        super().notify(terminal_safe(message), title=terminal_safe(title), severity=severity, timeout=timeout,
                       markup=markup)

    def action_help_quit(self) -> None:
        """ctrl+c with nothing to copy or stop: say how to quit (plain text, as every toast here)."""
        for key, active in self.active_bindings.items():
            if active.binding.action in ("quit", "app.quit"):
                self.notify(f"Press {key} to quit.", title="Do you want to quit?")
                return

    # ------------------------------------------------------------ state read by the palette

    @property
    def busy(self) -> bool:
        """True while a turn runs (generation, approval, code, input)."""
        return bool(self.client.busy)

    @property
    def session(self) -> Any:
        """The in-process core Session (None for a remote core); front-end code uses `client` instead."""
        return getattr(self.client, "session", None)

    @property
    def profile_name(self) -> str | None:
        return self.client.state.profile

    @property
    def auto_run(self) -> bool:
        return bool(self.client.state.auto_run)

    @property
    def chat_screen(self) -> ChatScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        return None

    # ------------------------------------------------------------ actions

    async def action_quit(self) -> None:
        """Quit; while something runs, ask first (ctrl+q again on the question quits at once)."""
        from .screens.confirm import ConfirmScreen

        if isinstance(self.screen, ConfirmScreen) or not self.busy:
            await self.close_session()
            self.exit()
            return

        async def decided(yes: bool | None) -> None:
            if yes:
                await self.close_session()
                self.exit()

        self.push_screen(ConfirmScreen("Something is still running. Stop it and quit?", yes="Quit", no="Stay"),
                         decided)

    def action_stop(self) -> None:
        if self.busy:
            self.client.stop()

    def action_allow_rules(self) -> None:
        """See the "always allow" rules in force and remove any of them."""
        from .screens.allow_rules import AllowRulesScreen

        if not isinstance(self.screen, AllowRulesScreen):
            self.push_screen(AllowRulesScreen(self.client))

    def action_toggle_auto_run(self) -> None:
        value = not bool(self.client.state.auto_run)
        self.client.set_setting("auto_run", value)
        if not self.client.remote:  # a server may refuse: its answer (or refusal) is what shows then
            self.notify("Auto-run is ON: code runs without asking." if value
                        else "Auto-run is OFF: you approve each run.", timeout=4)

    def action_new_conversation(self) -> None:
        self.run_worker(self._call(self.client.new_conversation(), "Conversation"), group="conversation",
                        exclusive=True, exit_on_error=False)  # MessagesReplaced re-renders the chat screen

    async def _call(self, call: Any, title: str) -> Any:
        """Await one client query in a worker; its failure is one toast."""
        from oi_core.errors import OiError

        try:
            return await call
        except OiError as exc:
            self.notify(exc.message, title=title, severity="error", timeout=8)
            return None

    def action_open_conversations(self) -> None:
        """Browse saved conversations (ctrl+o); the picked one is resumed in the chat screen."""
        from .client_store import ClientConversationStore
        from .screens.navigator import NavigatorScreen

        if any(isinstance(screen, NavigatorScreen) for screen in self.screen_stack):
            return
        store = ClientConversationStore(self.client, asyncio.get_running_loop())

        def opened(conversation_id: str | None) -> None:
            if conversation_id:
                self.resume_conversation(conversation_id)

        self.push_screen(NavigatorScreen(store), opened)

    def resume_conversation(self, conversation_id: str, store: Any = None) -> None:
        """Load a saved conversation (read in a thread); the chat screen re-renders on MessagesReplaced."""
        if self.busy:
            self.notify("Stop the current run before opening another conversation.", title="Conversation",
                        severity="warning")
            return
        self.run_worker(self._resume(conversation_id, store), group="resume", exclusive=True, exit_on_error=False)

    async def _resume(self, conversation_id: str, store: Any) -> None:
        await self._call(self.client.resume_conversation(conversation_id), "Conversation")

    def action_switch_profile(self) -> None:
        self.run_worker(self._offer_profiles(), group="profiles", exclusive=True, exit_on_error=False)

    async def _offer_profiles(self) -> None:
        """The core's profiles (the server's, when remote) in the palette; picking one applies it."""
        profiles = await self._call(self.client.list_profiles(), "Profiles")
        if profiles is None:
            return
        if not profiles:
            self.notify("No profiles found.", title="Profiles")
            return
        commands = [
            SimpleCommand(
                info.name,
                lambda name=info.name: self.switch_profile(name),
                f"{info.source} profile · {info.path}",
            )
            for info in profiles
        ]
        self.search_commands(commands, placeholder="Switch to profile…")

    def switch_profile(self, name: str) -> None:
        """Apply a profile to the running session; the conversation stays."""
        self.run_worker(self._switch_profile(name), group="profiles", exclusive=True, exit_on_error=False)

    async def _switch_profile(self, name: str) -> None:
        problems = await self._call(self.client.switch_profile(name), "Profiles")
        if problems is None:
            return
        for problem in problems:
            self.notify(problem, title="Profiles", severity="warning", timeout=8)
        self.notify(f"Profile {self.client.state.profile or name} · {self.client.state.model}", timeout=4)

    def action_local_models(self) -> None:
        """Find the model servers running here and choose a model (the picker applies it)."""
        if self.client.remote:
            self.notify("Local models are chosen on the server's machine (oi-tui --local there).", title="Models")
            return
        from .screens.local_models import open_local_models

        open_local_models(self)

    def action_export_markdown(self) -> None:
        from oi_core.conversation_export import to_markdown

        messages = list(self.client.state.messages)
        if not messages:
            self.notify("Nothing to export yet.", severity="warning")
            return
        conversation_id = self.client.state.conversation_id
        path = Path.cwd() / f"oi-conversation-{conversation_id}.md"
        text = to_markdown(messages, f"Conversation {conversation_id}")
        self.run_worker(self._write_export(path, text), group="export", exit_on_error=False)

    async def _write_export(self, path: Path, text: str) -> None:
        """Write an export off the UI thread and say where it went."""
        try:
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        except OSError as exc:
            self.notify(f"Could not export: {exc}", title="Export", severity="error")
            return
        self.notify(f"Saved {path}", title="Exported")

    def action_set_api_key(self) -> None:
        from .screens.setup import SetupScreen, apply_setup

        if self.client.remote:
            self.notify("API keys live on the server: run `oi-tui --set-key PROVIDER` on that machine.",
                        title="Model", timeout=8)
            return
        llm = self.interpreter.llm

        def chosen(result: Any) -> None:
            if result is not None:  # storing the key may wait on the OS keyring: do it off the UI thread
                self.run_worker(lambda: self._apply_setup(apply_setup, result), thread=True, group="setup",
                                exit_on_error=False)

        self.push_screen(SetupScreen(llm.model, getattr(llm, "api_base", None)), chosen)

    def _apply_setup(self, apply_setup: Any, result: Any) -> None:
        try:
            message, severity = apply_setup(self.interpreter, result), "information"
        except Exception as exc:
            message, severity = f"Could not apply the setup: {exc}", "error"

        def done() -> None:
            self.notify(message, title="Model", severity=severity)
            self.client.publish(SettingChanged("llm.model", self.interpreter.llm.model))

        self.call_from_thread(done)

    def action_edit_profile(self) -> None:
        """Open the active profile in $EDITOR (the app steps aside), then apply what was saved."""
        from oi_core.profiles import ProfileError, editable_profile

        if self.client.remote:
            self.notify("Profiles are files on the server: edit them there (oi-tui --profiles shows the folder).",
                        title="Profiles", timeout=8)
            return
        try:
            path = editable_profile(self.interpreter.profile)
        except (ProfileError, OSError) as exc:
            self.notify(f"Cannot edit the profile: {getattr(exc, 'message', exc)}", title="Profiles", severity="error")
            return
        command, problem = editor_command()
        if problem:  # checked before the app steps aside: a missing editor must never leave the screen blank
            self.notify(f"{problem} The profile is {path}.", title="Profiles", severity="error", timeout=12)
            return
        failure: BaseException | None = None
        try:
            with self.suspend():
                try:  # nothing may escape this block: Textual only restores the screen when it ends normally
                    subprocess.call([*command, str(path)])
                except (OSError, subprocess.SubprocessError) as exc:
                    failure = exc
        except Exception as exc:  # no terminal to hand over (headless, web)
            failure = exc
        if failure is not None:
            self.notify(f"Could not open {shlex.join(command)} on {path}: {failure}", title="Profiles",
                        severity="error", timeout=12)
            return
        self.switch_profile(path.stem)

    # ------------------------------------------------------------ workers

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker_failure(event)

    def report_worker_failure(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker reaches the user and the log (workers run with exit_on_error=False)."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        what = WORKER_DESCRIPTIONS.get(worker.group) or worker.description or worker.name or worker.group
        log.error("worker %s failed", what, exc_info=error)
        where = f" (details in {self.log_file})" if self.log_file else ""
        self.notify(redact(f"{what} failed: {type(error).__name__}: {error}{where}", self.interpreter),
                    title="Error", severity="error", timeout=12)

    def action_open_profile_dir(self) -> None:
        try:
            from oi_core.profiles import profile_dir

            self.notify(str(profile_dir()), title="Profiles folder", timeout=10)
        except Exception as exc:
            self.notify(f"No profiles folder: {exc}", severity="warning")
