"""Connects an interpreter to its bus: client events in, core events out. The TUI and plain mode use this."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from .errors import OiError
from .events import (
    AllowRuleAdded,
    AllowRuleRemoved,
    ApprovalRequested,
    ApprovalResolved,
    ChunkEmitted,
    CodeApproved,
    CodeSkipped,
    ErrorRaised,
    InputAnswered,
    InputRequested,
    ScanFinished,
    ScanRequested,
    SettingChanged,
    SettingsApplied,
    StopRequested,
    UserMessageSent,
)
from .settings import safe_mode_of

if TYPE_CHECKING:  # the approval machinery loads with the first turn, not with the first frame
    from .approval import Decision, PendingCode

log = logging.getLogger("oi_core.session")
_ids = itertools.count(1)
_OUTCOME_NAMES = {"run": "approved", "skip": "skipped", "escape": "escaped", "incomplete": "refused"}


class Session:
    """Owns the running turn; answers approvals and input() through bus events."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self.bus = interpreter.bus
        self.turn: asyncio.Task[None] | None = None
        self._warm_up: asyncio.Task[None] | None = None
        self._warm_scan: asyncio.Task[None] | None = None
        self._warm_checkpoint: asyncio.Task[None] | None = None
        self._approvals: dict[str, tuple[asyncio.Future[Decision], PendingCode]] = {}
        self._inputs: dict[str, asyncio.Future[str]] = {}
        self._unsubscribe = [
            self.bus.on(UserMessageSent, self._on_user_message),
            self.bus.on(CodeApproved, self._on_code_approved),
            self.bus.on(CodeSkipped, self._on_code_skipped),
            self.bus.on(ScanRequested, self._on_scan_requested),
            self.bus.on(AllowRuleAdded, self._on_allow_rule_added),
            self.bus.on(AllowRuleRemoved, self._on_allow_rule_removed),
            self.bus.on(InputAnswered, self._on_input_answered),
            self.bus.on(StopRequested, self._on_stop_requested),
            self.bus.on(SettingChanged, self._on_setting_changed),
        ]

    # ------------------------------------------------------------ lifecycle

    @property
    def busy(self) -> bool:
        return self.turn is not None and not self.turn.done()

    def warm_up(self) -> None:
        """Import litellm and start the Python kernel in the background so the first turn does not wait."""
        self.interpreter.llm.warm_up()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._warm_up = loop.create_task(self._start_kernel())  # held: the loop keeps only a weak reference
        if safe_mode_of(self.interpreter) != "off":
            self._warm_scan = loop.create_task(self._warm_scanner())
        self._warm_checkpoint = loop.create_task(self._take_first_checkpoint())

    async def warmed_up(self) -> None:
        """Wait for the kernel and the first checkpoint (litellm's import waits for a pause in typing: not this)."""
        tasks = [task for task in (self._warm_up, self._warm_checkpoint) if task is not None]
        if tasks:
            await asyncio.wait(tasks)  # each logs its own failure; the first real use reports it

    async def _start_kernel(self) -> None:
        try:
            await self.interpreter.computer.terminal.astart("python")
        except Exception as exc:
            log.warning("python warm-up failed: %s", exc)

    async def _warm_scanner(self) -> None:
        """One tiny semgrep scan, so the first real scan of safe mode does not pay for a cold engine."""
        from .safety import scanner

        if not scanner.semgrep_status()[0]:
            return  # said once at start by startup_notices
        try:
            await scanner.warm_up()
        except Exception as exc:
            log.warning("semgrep warm-up failed: %s", exc)

    async def _take_first_checkpoint(self) -> None:
        """A large project's first snapshot takes seconds: now, not when the first run is approved."""
        try:
            await self.interpreter.run_checkpoints.warm_up()
        except Exception as exc:
            log.warning("checkpoint warm-up failed: %s", exc)

    async def close(self) -> None:
        """Stop whatever runs and shut the languages down (no orphan processes)."""
        if self._warm_scan is not None and not self._warm_scan.done():
            self._warm_scan.cancel()  # kills semgrep
        if self._warm_checkpoint is not None and not self._warm_checkpoint.done():
            self._warm_checkpoint.cancel()
        await self.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self.interpreter.computer.aterminate()
        await self.interpreter.flush_autosave()

    # ------------------------------------------------------------ turns

    def send(self, content: str, images: tuple[str, ...] = ()) -> None:
        self.bus.publish(UserMessageSent(content, images))

    async def _on_user_message(self, event: UserMessageSent) -> None:
        if self.busy:
            self.bus.publish(ErrorRaised("busy", "Still working on the last message: wait, or press Esc to stop it."))
            return
        if event.content.lstrip().startswith("%") and not event.images:
            from .magic import run_magic_turn

            self.turn = asyncio.ensure_future(run_magic_turn(self, event.content.strip()))  # busy, stoppable
            return
        message: Any = event.content
        if event.images:
            message = [{"role": "user", "type": "message", "content": event.content}] + [
                {"role": "user", "type": "image", "format": "path", "content": path} for path in event.images
            ]
        self.turn = asyncio.ensure_future(self._run_turn(message))

    async def run_turn(self, message: Any) -> None:
        """Start a turn and wait for it (for callers that want to await completion)."""
        self.turn = asyncio.ensure_future(self._run_turn(message))
        await asyncio.shield(self.turn)

    async def _run_turn(self, message: Any) -> None:
        try:
            async for chunk in self.interpreter.achat(message, approve=self._approve, io=self):
                self.bus.publish(ChunkEmitted(chunk))
        except asyncio.CancelledError:
            pass
        except OiError:
            pass  # already published as ErrorRaised by achat
        except Exception as exc:  # a bug of ours: say so in one line, keep the app alive
            log.exception("turn failed")
            self.bus.publish(ErrorRaised("internal", f"Something went wrong inside oi-tui ({type(exc).__name__}: {exc})."))
        finally:
            self._cancel_pending()

    async def wait_idle(self) -> None:
        if self.turn is not None:
            try:
                await asyncio.shield(self.turn)
            except asyncio.CancelledError:
                pass

    # ------------------------------------------------------------ approvals and input

    async def _approve(self, pending: PendingCode) -> Decision:
        """Publish the approval request and wait for a client's answer (or Stop)."""
        request_id = pending.request_id
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._approvals[request_id] = (future, pending)
        self.bus.publish(
            ApprovalRequested(request_id, pending.language, pending.code, pending.risks, pending.scan,
                              pending.incomplete, pending.forced, pending.summary)
        )
        if pending.scanning:  # a finished scan is already in the request
            self._report_scan(pending)
        outcome = "stopped"
        try:
            decision = await future
            outcome = _OUTCOME_NAMES.get(decision.outcome, decision.outcome)
            return decision
        finally:
            self._approvals.pop(request_id, None)
            self.bus.publish(ApprovalResolved(request_id, outcome))

    def _report_scan(self, pending: PendingCode) -> None:
        """Publish ScanFinished when the block's scan ends (not when it is stopped because the user decided)."""
        task = pending.scan_task
        assert task is not None

        def done(finished: asyncio.Task[Any]) -> None:
            if finished.cancelled() or pending.scan is None:
                return
            self.bus.publish(ScanFinished(pending.request_id, pending.scan))

        task.add_done_callback(done)

    async def request_input(self, prompt: str, password: bool = False) -> str:
        request_id = f"input-{next(_ids)}"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inputs[request_id] = future
        self.interpreter._set_status("awaiting_input", prompt)
        self.bus.publish(InputRequested(request_id, prompt, password))
        try:
            return await future
        finally:
            self._inputs.pop(request_id, None)
            if self.interpreter.status == "awaiting_input":
                self.interpreter._set_status("running")

    def _on_code_approved(self, event: CodeApproved) -> None:
        from .approval import Decision

        entry = self._approvals.get(event.request_id)
        if entry is None or entry[0].done():
            return  # unknown or stale: never runs anything
        future, pending = entry
        if pending.incomplete and event.code == pending.code and not event.confirmed_incomplete:
            self.bus.publish(ErrorRaised(
                "approval",
                "This code was cut off by the token limit: edit it, or confirm that it should run as it is.",
            ))
            return
        future.set_result(Decision("run", event.code, confirmed_incomplete=event.confirmed_incomplete))

    def _on_code_skipped(self, event: CodeSkipped) -> None:
        from .approval import Decision

        entry = self._approvals.get(event.request_id)
        if entry is None or entry[0].done():
            return
        outcome = event.how if event.how in ("escape", "fix") else "skip"
        entry[0].set_result(Decision(outcome, reason=event.reason))

    def _on_scan_requested(self, event: ScanRequested) -> None:
        entry = self._approvals.get(event.request_id)
        if entry is None or entry[0].done():
            return
        pending = entry[1]
        if pending.scan_task is not None:
            return  # already scanning or scanned; its ScanFinished comes (or came) once
        if pending.start_scan() is None:  # semgrep missing: say so at once
            if pending.scan is not None:
                self.bus.publish(ScanFinished(pending.request_id, pending.scan))
            return
        self._report_scan(pending)

    def _on_input_answered(self, event: InputAnswered) -> None:
        future = self._inputs.get(event.request_id)
        if future is not None and not future.done():
            future.set_result(event.text)

    def _cancel_pending(self) -> None:
        from .approval import Decision

        for future, _pending in list(self._approvals.values()):
            if not future.done():
                future.set_result(Decision("stopped"))
        for future in list(self._inputs.values()):
            if not future.done():
                future.set_exception(EOFError("The run was stopped."))

    # ------------------------------------------------------------ stop and settings

    async def _on_stop_requested(self, event: StopRequested) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Interrupt running code (state kept) or cancel generation; returns when the turn has ended."""
        if not self.busy:
            return
        interp = self.interpreter
        status = interp.status
        interp._stop_requested = True
        waiting = bool(self._approvals)
        self._cancel_pending()
        if waiting:  # the turn records "not run" for the pending block and ends by itself
            try:
                await asyncio.wait_for(asyncio.shield(self.turn), timeout=3)  # type: ignore[arg-type]
                return
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if status in ("running", "awaiting_input", "stopping"):
            await interp.astop()
            try:
                await asyncio.wait_for(asyncio.shield(self.turn), timeout=3)  # type: ignore[arg-type]
                return
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        assert self.turn is not None
        self.turn.cancel()
        try:
            await self.turn
        except asyncio.CancelledError:
            pass

    def _on_setting_changed(self, event: SettingChanged) -> None:
        try:
            self.interpreter.set_setting(event.path, event.value)
        except OiError as exc:
            self.bus.publish(ErrorRaised(exc.kind, exc.message))
            return
        self.bus.publish(SettingsApplied({event.path: event.value}, self.interpreter.profile))

    # ------------------------------------------------------------ allow rules

    async def _on_allow_rule_added(self, event: AllowRuleAdded) -> None:
        await self._change_allow_rules(event.rule, add=True, save=event.save)

    async def _on_allow_rule_removed(self, event: AllowRuleRemoved) -> None:
        await self._change_allow_rules(event.rule, add=False, save=event.save)

    async def _change_allow_rules(self, rule: dict[str, Any], *, add: bool, save: bool) -> None:
        """Add or remove one rule, save it to the profile off the loop, and tell every client."""
        from .approval import parse_allow_rules as parse_rules

        interp = self.interpreter
        rules = [dict(r) for r in interp.allow_rules]
        if add:
            _valid, problems = parse_rules([rule])
            if problems:
                self.bus.publish(ErrorRaised("settings", problems[0]))
                return
            if rule not in rules:
                rules.append(dict(rule))
        else:
            if rule not in rules:
                self.bus.publish(ErrorRaised("settings", "That allow rule is not in the list, so nothing was removed."))
                return
            rules.remove(rule)
        interp.set_setting("allow_rules", rules)
        if save:
            from .profiles import save_allow_rules

            try:
                path = await asyncio.to_thread(save_allow_rules, interp.profile, rules)
            except OiError as exc:
                self.bus.publish(ErrorRaised(exc.kind, exc.message))
            except OSError as exc:
                self.bus.publish(ErrorRaised("settings", f"Could not save the allow rules to the profile: {exc}."))
            else:
                log.info("allow rules saved to %s", path)
        self.bus.publish(SettingsApplied({"allow_rules": rules}, interp.profile))
