"""oi_core: the embedded engine behind oi-tui, also usable as a library.

    from oi_core import interpreter
    interpreter.auto_run = True
    interpreter.chat("What's 34/24?")
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
__all__ = ["OpenInterpreter", "interpreter", "__version__"]

if TYPE_CHECKING:
    from .open_interpreter import OpenInterpreter

_default: Any = None


def __getattr__(name: str) -> Any:
    global _default
    if name == "OpenInterpreter":
        from .open_interpreter import OpenInterpreter

        return OpenInterpreter
    if name == "interpreter":
        if _default is None:
            from .open_interpreter import OpenInterpreter

            _default = OpenInterpreter()
        return _default
    raise AttributeError(f"module 'oi_core' has no attribute {name!r}")
