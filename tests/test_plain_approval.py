"""`--plain` approval answers in-process: y runs, a typed reason skips and reaches the model, f asks for a fix,
s scans (ask mode), cut-off code needs c; a block an allow rule covers runs and stderr says so.
"""

from __future__ import annotations

import io
import json

from oi_tui.plain import run_plain
from tests.llm_server import Reply


def plain(interp, stdin: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_plain(interp, stdin=io.StringIO(stdin), stdout=out, stderr=err, interactive=True)
    return code, out.getvalue(), err.getvalue()


def test_a_typed_reason_skips_and_the_model_answers_it(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp = make_interpreter()
    llm.queue(f"```shell\nrm -rf {marker}\ntouch {marker}\n```", "I will use the trash instead.")
    code, out, err = plain(interp, "clean up\nplease use the trash\n")
    assert code == 0, err
    assert not marker.exists()
    assert "risk (medium) line 1" in out or "risk (high) line 1" in out  # the marks are shown before asking
    assert "I will use the trash instead." in out
    assert "please use the trash" in json.dumps(llm.requests[-1]["messages"])


def test_f_asks_the_model_to_explain_or_fix(make_interpreter, llm) -> None:
    interp = make_interpreter()
    llm.queue("```shell\nsudo true\n```", "It asks for admin rights; here is why.")
    code, out, err = plain(interp, "go\nf\n")
    assert code == 0, err
    told = llm.requests[-1]["messages"][-1]["content"]
    assert "Explain what it does" in told and "uses sudo" in told
    assert "here is why" in out


def test_s_scans_in_ask_mode_then_n_skips(make_interpreter, llm) -> None:
    interp = make_interpreter(safe_mode="ask")
    llm.queue("```shell\necho bye\nrm -rf ~\n```")
    code, out, err = plain(interp, "go\ns\nn\n")
    assert code == 0, err
    assert "s = scan it" in out
    assert "safe mode (ERROR) line 2:" in out and "shell-recursive-delete-home-or-root" in out
    assert interp.messages[-1]["content"] == "The user declined to run this code."


def test_cut_off_code_needs_c_not_y(make_interpreter, llm, tmp_path) -> None:
    marker = tmp_path / "ran"
    interp = make_interpreter()
    llm.queue(Reply(text=f"```shell\ntouch {marker}", finish_reason="length"), "Done.")
    code, out, err = plain(interp, "go\ny\nc\n")
    assert code == 0, err
    assert "cut off by the token limit and is incomplete" in out
    assert "type c to run it as it is" in err
    assert marker.exists()


def test_a_rule_run_is_said_on_stderr(make_interpreter, llm, tmp_path) -> None:
    interp = make_interpreter(allow_rules=[{"language": "shell", "kind": "command-prefix", "pattern": "ls"}])
    llm.queue(f"```shell\nls {tmp_path}\n```", "Listed.")
    code, out, err = plain(interp, "go\n")
    assert code == 0
    assert "ran without asking, as an allow rule permits: shell commands starting with `ls`." in err
    assert "Run this" not in out
