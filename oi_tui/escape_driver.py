"""Textual's Linux terminal driver, with a lone Esc delivered when it is due instead of at the next poll.

Textual's driver reads the terminal in a thread that waits for input 0.1 s at a time, and only after
each wait asks its parser whether a lone Esc has waited `ESCAPE_DELAY` (long enough not to be the start
of a key sequence). So Esc, which stops a reply, reached the app 100-150 ms after the key whatever the
delay was set to. This driver's input thread, after reading input, wakes again as soon as that delay is
over, so the parser can hand the Esc on at once.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual import constants
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

#: How long the input thread waits for input when nothing is pending (Textual's own poll).
POLL = 0.1
#: Added to the Esc delay so the wake-up lands just after the parser's deadline, not just before it.
DEADLINE_MARGIN = 0.002


class PromptEscapeDriver(LinuxDriver):
    """The Linux driver whose input thread wakes when a lone Esc becomes a key."""

    def run_input_thread(self) -> None:
        """Read the terminal and hand parsed events on; after input, wake when a pending Esc is due."""
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        wait = POLL
        try:
            while True:
                closing = self.exit_event.is_set()
                ready = selector.select(POLL if closing else wait)
                wait = POLL
                for _key, mask in ready:
                    if not mask & selectors.EVENT_READ:
                        continue
                    text = decode(os.read(self.fileno, 4096), final=closing)
                    if not text:  # stdin is a pipe that ended
                        break
                    for event in parser.feed(text):
                        self.process_message(event)
                    wait = min(POLL, constants.ESCAPE_DELAY + DEADLINE_MARGIN)  # a lone Esc may be waiting
                for event in parser.tick():
                    self.process_message(event)
                if closing:
                    break
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):  # the input ended inside a sequence: nothing more to hand on
                pass
