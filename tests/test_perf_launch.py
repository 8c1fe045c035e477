"""Launch: what the first frame waits for (benchmarks/bench_e2e.py measures it in a real terminal)."""

from __future__ import annotations

import argparse
import gc

import pytest

from oi_core.errors import OiError
from oi_tui import cli, gc_policy


@pytest.mark.parametrize("plain", [False, True])
def test_the_tui_launch_collects_no_garbage_before_the_first_frame(monkeypatch, plain) -> None:
    """Collections over start-up's objects cost ~50 ms before the first frame; the app's policy resumes them."""
    seen = {}

    def make_interpreter(args):
        seen["collecting"] = gc.isenabled()
        raise OiError("stop here")

    monkeypatch.setattr(cli, "make_interpreter", make_interpreter)
    try:
        assert cli._run(argparse.Namespace(plain=plain)) == 2
    finally:
        gc.enable()
    assert seen["collecting"] is plain, "the TUI imports its modules with collection paused; plain mode does not"


def test_the_policy_resumes_collection_at_the_first_frame() -> None:
    gc_policy.pause_until_first_frame()
    try:
        assert not gc.isenabled()
        gc_policy.GcPolicy(lambda: 0.0).start()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0, "what start-up built is frozen, not walked by later collections"
    finally:
        gc_policy.restore_defaults()
    assert gc.isenabled() and gc.get_freeze_count() == 0
