"""The console pane: live output of the current run (batched, capped) and the input() prompt line."""

from __future__ import annotations


from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Log
from textual.widget import AwaitMount

from oi_core.sanitize import clean_output, terminal_safe

MAX_LINES = 5000


class ConsolePane(Vertical):
    """Log of process output; an Input appears when running code asks for a line."""

    class InputAnswered(Message):
        """The user typed an answer to a running program's input() request."""

        def __init__(self, request_id: str, text: str) -> None:
            super().__init__()
            self.request_id = request_id
            self.text = text

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pending: list[str] = []
        self._request_id: str | None = None
        self._shown_prompt = ""
        self._answer_line: AwaitMount | None = None
        self.border_title = "console"

    def compose(self) -> ComposeResult:
        yield Log(max_lines=MAX_LINES, highlight=False, id="console-log")

    def build(self) -> AwaitMount:
        """Mount the hidden answer line: after the first frame (3 fewer widgets to style before it), or as soon
        as a program asks, whichever comes first."""
        if self._answer_line is None:
            if not self.is_attached:  # the app is closing (e.g. a server refused it right after the first frame)
                return AwaitMount(self, [])
            prompt = Label("", id="console-prompt", markup=False)  # the program's own prompt, kept while typing
            prompt.display = False
            self._answer_line = self.mount(Horizontal(prompt, Input(id="console-input", classes="-hidden"),
                                                      id="console-ask"))
        return self._answer_line

    @property
    def log_widget(self) -> Log:
        return self.query_one("#console-log", Log)

    @property
    def text(self) -> str:
        """Everything shown (flushed) so far."""
        return "\n".join(self.log_widget.lines)

    def buffer(self, text: str) -> None:
        """Queue output; `flush` writes it (the screen calls it on a ~30 Hz timer)."""
        self._pending.append(text)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        if not self._pending:
            return
        text = clean_output("".join(self._pending))
        self._pending.clear()
        self.log_widget.write(text)

    def reset(self) -> None:
        """Forget everything shown and queued (a new or resumed conversation)."""
        self._pending.clear()
        self.log_widget.clear()
        self.cancel_question()

    def write_note(self, text: str) -> None:
        """A line of our own (run separators, echoed answers)."""
        self.flush()
        log = self.log_widget
        if log.lines and log.lines[-1] != "":
            log.write("\n")
        log.write(text + "\n")

    def write_not_run(self, language: str, text: str) -> None:
        """A block that did not run: its own section, so the note never reads as the last run's output."""
        self.write_note(f"── {terminal_safe(language)} · not run ──")
        self.write_note(clean_output(text).rstrip("\n"))

    def ask(self, request_id: str, prompt: str, password: bool = False, focus: bool = True) -> None:
        """Show the program's prompt beside an answer line; `focus=False` leaves the user where they are typing."""
        self.flush()
        self._request_id = request_id
        self._shown_prompt = shown = terminal_safe(prompt.rstrip("\n"))
        if self.query("#console-input"):
            self._show_question(shown, password, focus)
        else:  # asked before the answer line is up: shown once it is
            self.call_later(self._show_when_built, request_id, shown, password, focus)

    async def _show_when_built(self, request_id: str, shown: str, password: bool, focus: bool) -> None:
        await self.build()
        if self._request_id == request_id:  # neither answered nor cancelled meanwhile
            self._show_question(shown, password, focus)

    def _show_question(self, shown: str, password: bool, focus: bool) -> None:
        label = self.query_one("#console-prompt", Label)
        label.update(shown)
        label.display = bool(shown.strip())
        box = self.query_one("#console-input", Input)
        box.value = ""
        box.password = password
        box.placeholder = ("type the answer, then Enter" if focus
                           else "the program is waiting: click here or press Tab to answer")
        box.remove_class("-hidden")
        self.add_class("-asking")
        if focus:
            box.focus()

    @property
    def prompt_text(self) -> str:
        """The running program's prompt, as shown while it waits for an answer."""
        return self._shown_prompt if self.asking else ""

    def cancel_question(self) -> None:
        self._request_id = None
        self.remove_class("-asking")
        if not self.query("#console-input"):
            return
        self.query_one("#console-input", Input).add_class("-hidden")
        label = self.query_one("#console-prompt", Label)
        label.update("")
        label.display = False

    @property
    def asking(self) -> bool:
        return self._request_id is not None

    @on(Input.Submitted, "#console-input")
    def send_answer(self, event: Input.Submitted) -> None:
        event.stop()
        if self._request_id is None:
            return
        request_id, box = self._request_id, self.query_one("#console-input", Input)
        prompt = self.prompt_text
        shown = "•" * len(event.value) if box.password else event.value
        self.cancel_question()
        self.write_note(f"{prompt.rstrip()} {shown}".strip())
        self.post_message(self.InputAnswered(request_id, event.value))
