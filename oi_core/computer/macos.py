"""Mail, Messages, Contacts and Calendar: macOS apps driven through AppleScript (osascript).

On any other system each call raises NotAvailableOnThisOSError with one clear sentence.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime
from typing import Any

from .errors import ComputerError, NotAvailableOnThisOSError, PermissionDeniedError

TIMEOUT = 60  # seconds for one AppleScript run


def _system_name() -> str:
    return {"linux": "Linux", "win32": "Windows", "cygwin": "Windows"}.get(sys.platform, platform.system() or sys.platform)


def require_macos(part: str) -> None:
    if sys.platform != "darwin":
        raise NotAvailableOnThisOSError(
            f"computer.{part} is not available on this OS: it drives the macOS {_APPS[part]} app, "
            f"and this computer runs {_system_name()}."
        )


_APPS = {"mail": "Mail", "sms": "Messages", "contacts": "Contacts", "calendar": "Calendar"}


def quote(text: Any) -> str:
    """An AppleScript string literal."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_applescript(script: str, app: str) -> str:
    try:
        result = subprocess.run(["osascript", "-e", script], capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise ComputerError(f"{app} did not answer within {TIMEOUT} seconds.") from exc
    except OSError as exc:
        raise ComputerError(f"Could not run osascript to talk to {app}: {exc.strerror or exc}.") from exc
    if result.returncode != 0:
        error = result.stderr.strip()
        if "-1743" in error or "not allowed" in error.lower() or "not authorized" in error.lower():
            raise PermissionDeniedError(
                f"macOS did not allow controlling {app}: allow your terminal under System Settings > "
                "Privacy & Security > Automation, then try again."
            )
        raise ComputerError(f"{app} reported an error: {error or 'exit status ' + str(result.returncode)}.")
    return result.stdout.strip()


def _date(value: datetime, name: str) -> str:
    """AppleScript that sets variable `name` to the given date, locale-independently."""
    return (
        f"set {name} to current date\n"
        f"set year of {name} to {value.year}\nset month of {name} to {value.month}\nset day of {name} to {value.day}\n"
        f"set time of {name} to {value.hour * 3600 + value.minute * 60 + value.second}\n"
    )


class _MacPart:
    part = ""

    def __init__(self, computer: Any = None) -> None:
        self.computer = computer

    def _run(self, script: str) -> str:
        require_macos(self.part)
        return run_applescript(script, _APPS[self.part])


class Mail(_MacPart):
    part = "mail"

    def get(self, number: int = 5, unread: bool = False) -> list[dict[str, str]]:
        """The newest messages in the inbox (sender, subject, date, content preview)."""
        condition = " whose read status is false" if unread else ""
        script = f"""
tell application "Mail"
  set out to ""
  set msgs to (messages of inbox{condition})
  set n to count of msgs
  if n > {int(number)} then set n to {int(number)}
  repeat with i from 1 to n
    set m to item i of msgs
    set body to content of m
    if length of body > 500 then set body to text 1 thru 500 of body
    set out to out & (sender of m) & (ASCII character 31) & (subject of m) & (ASCII character 31) & ((date received of m) as string) & (ASCII character 31) & body & (ASCII character 30)
  end repeat
  return out
end tell"""
        records = []
        for row in self._run(script).split("\x1e"):
            fields = row.split("\x1f")
            if len(fields) == 4:
                records.append(dict(zip(("from", "subject", "date", "content"), (f.strip() for f in fields))))
        return records

    def send(self, to: str, subject: str, body: str, attachments: list[str] | None = None) -> str:
        attach = "".join(
            f"\n    make new attachment with properties {{file name:(POSIX file {quote(path)}) as alias}} at after the last paragraph"
            for path in attachments or []
        )
        script = f"""
tell application "Mail"
  set m to make new outgoing message with properties {{subject:{quote(subject)}, content:{quote(body)}, visible:false}}
  tell m
    make new to recipient at end of to recipients with properties {{address:{quote(to)}}}{attach}
  end tell
  send m
end tell"""
        self._run(script)
        return f"Sent the email to {to}."

    def unread_count(self) -> int:
        return int(self._run('tell application "Mail" to return unread count of inbox') or 0)


class Sms(_MacPart):
    part = "sms"

    def send(self, to: str, message: str) -> str:
        script = f"""
tell application "Messages"
  set svc to 1st account whose service type = iMessage
  send {quote(message)} to participant {quote(to)} of svc
end tell"""
        self._run(script)
        return f"Sent the message to {to}."


class Contacts(_MacPart):
    part = "contacts"

    def get_phone_number(self, contact_name: str) -> str:
        script = f"""
tell application "Contacts"
  set found to (people whose name is {quote(contact_name)})
  if (count of found) is 0 then return ""
  set nums to phones of item 1 of found
  if (count of nums) is 0 then return ""
  return value of item 1 of nums
end tell"""
        number = self._run(script)
        if not number:
            raise ComputerError(f"No phone number found for '{contact_name}' in Contacts.")
        return number

    def get_email_address(self, contact_name: str) -> str:
        script = f"""
tell application "Contacts"
  set found to (people whose name is {quote(contact_name)})
  if (count of found) is 0 then return ""
  set addrs to emails of item 1 of found
  if (count of addrs) is 0 then return ""
  return value of item 1 of addrs
end tell"""
        address = self._run(script)
        if not address:
            raise ComputerError(f"No email address found for '{contact_name}' in Contacts.")
        return address


class Calendar(_MacPart):
    part = "calendar"

    def get_events(self, start_date: datetime | None = None, end_date: datetime | None = None) -> str:
        start = start_date or datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
        end = end_date or start.replace(hour=23, minute=59, second=59)
        script = f"""{_date(start, "startD")}{_date(end, "endD")}
tell application "Calendar"
  set out to ""
  repeat with c in calendars
    repeat with e in (every event of c whose start date ≥ startD and start date ≤ endD)
      set out to out & (summary of e) & " | " & ((start date of e) as string) & " - " & ((end date of e) as string) & " | " & (name of c) & linefeed
    end repeat
  end repeat
  return out
end tell"""
        return self._run(script) or "No events in that time."

    def create_event(
        self,
        title: str = "Untitled",
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        location: str = "",
        notes: str = "",
        calendar: str | None = None,
    ) -> str:
        start = start_date or datetime.now()
        end = end_date or start.replace(hour=min(23, start.hour + 1))
        target = f"calendar {quote(calendar)}" if calendar else "first calendar whose writable is true"
        script = f"""{_date(start, "startD")}{_date(end, "endD")}
tell application "Calendar"
  tell {target}
    make new event with properties {{summary:{quote(title)}, start date:startD, end date:endD, location:{quote(location)}, description:{quote(notes)}}}
  end tell
end tell"""
        self._run(script)
        return f"Created the event '{title}'."

    def delete_event(self, event_title: str, start_date: datetime, calendar: str | None = None) -> str:
        scope = f"{{calendar {quote(calendar)}}}" if calendar else "calendars"
        script = f"""{_date(start_date, "startD")}
tell application "Calendar"
  set n to 0
  repeat with c in {scope}
    repeat with e in (every event of c whose summary is {quote(event_title)} and start date is startD)
      delete e
      set n to n + 1
    end repeat
  end repeat
  return n
end tell"""
        count = int(self._run(script) or 0)
        if count == 0:
            raise ComputerError(f"No event '{event_title}' starts at {start_date}.")
        return f"Deleted {count} event(s) named '{event_title}'."
