"""Bus events as JSON frames and back: the one encoding the server and the remote client share."""

from __future__ import annotations

import dataclasses
import json
import typing
from functools import cache
from typing import Any

from .. import events
from ..events import Event
from ..safety.types import Finding, RiskMark, ScanResult

#: Events that clients publish for the core; never sent to clients.
CLIENT_EVENTS: tuple[type[Event], ...] = (
    events.UserMessageSent, events.CodeApproved, events.CodeSkipped, events.ScanRequested,
    events.AllowRuleAdded, events.AllowRuleRemoved, events.InputAnswered, events.StopRequested,
    events.SettingChanged,
)

PROTOCOL = "oi-tui/1"


def dumps(frame: dict[str, Any]) -> str:
    """A frame as JSON text: ASCII only, so no text (even a lone surrogate) can fail to encode on the way out."""
    return json.dumps(frame, ensure_ascii=True, default=_fallback, separators=(",", ":"))


def _fallback(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode_value(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def encode_value(value: Any) -> Any:
    """Plain JSON data for a field value (dataclasses such as RiskMark and ScanResult become dicts)."""
    if isinstance(value, ScanResult):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode_value(item) for item in value]
    return value


def encode_event(event: Event) -> dict[str, Any]:
    """`{"event": name, "data": {...}}` for a bus event."""
    data = {f.name: encode_value(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return {"event": type(event).__name__, "data": data}


def scan_from(data: Any) -> ScanResult | None:
    if not isinstance(data, dict):
        return None
    findings = tuple(Finding(**f) for f in data.get("findings") or () if isinstance(f, dict))
    return ScanResult(data.get("status", "failed"), findings, str(data.get("detail") or ""),
                      float(data.get("seconds") or 0.0))


def _risks_from(data: Any) -> tuple[RiskMark, ...]:
    return tuple(RiskMark(**mark) for mark in data or () if isinstance(mark, dict))


@cache
def _converters(cls: type[Event]) -> dict[str, Any]:
    """How to rebuild each field of an event class from JSON data (by its type hint)."""
    # events imports the safety types for type checkers only, so their names are supplied here
    hints = typing.get_type_hints(cls, localns={"RiskMark": RiskMark, "ScanResult": ScanResult})
    converters: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        hint = str(hints[field.name])
        if "RiskMark" in hint:
            converters[field.name] = _risks_from
        elif "ScanResult" in hint:
            converters[field.name] = scan_from
        elif hint.startswith("tuple"):
            converters[field.name] = lambda value: tuple(value or ())
    return converters


def decode_event(name: str, data: dict[str, Any]) -> Event | None:
    """The event named `name`, or None when this client does not know it (a newer server)."""
    cls = getattr(events, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, Event)) or cls is Event:
        return None
    converters = _converters(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in (data or {}).items():
        if key in known:
            convert = converters.get(key)
            values[key] = convert(value) if convert else value
    try:
        return cls(**values)
    except TypeError:
        return None


def confirmation_frame(event: events.ApprovalRequested) -> dict[str, Any]:
    """The LMC confirmation chunk for a block that waits for `go`, with its request id and safety findings."""
    frame: dict[str, Any] = {
        "role": "computer", "type": "confirmation", "format": "execution",
        "content": {"type": "code", "format": event.language, "content": event.code},
        "request_id": event.request_id,
        "risks": [mark.to_dict() for mark in event.risks],
    }
    if event.summary:
        frame["summary"] = event.summary
    if event.scan is not None:
        frame["scan"] = event.scan.to_dict()
        frame["findings"] = [finding.to_dict() for finding in event.scan.findings]
    if event.incomplete:
        frame["incomplete"] = True
    if event.forced:
        frame["forced"] = event.forced
    return frame


COMPLETE = {"role": "server", "type": "status", "content": "complete"}


def error_frame(message: str, kind: str = "error") -> dict[str, Any]:
    return {"role": "server", "type": "error", "content": message, "kind": kind}
