"""OS mode / import_computer_api: the model's Python code can use `computer` directly."""

from __future__ import annotations


def test_computer_is_importable_in_the_kernel_only_when_asked(make_interpreter) -> None:
    plain = make_interpreter()
    out = plain.computer.run("python", "print('computer' in globals())")
    assert out[0]["content"] == "False\n"

    interp = make_interpreter()
    interp.computer.import_computer_api = True
    out = interp.computer.run("python", "print(type(computer).__name__, hasattr(computer, 'mouse'))")
    assert out[0]["content"] == "Computer True\n"


def test_os_mode_turns_it_on(make_interpreter) -> None:
    interp = make_interpreter(os=True)
    out = interp.computer.run("python", "print(type(computer.clipboard).__name__)")
    assert out[0]["content"] == "Clipboard\n"
