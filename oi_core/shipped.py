"""Where the data files shipped with oi-tui (themes/, profiles/) live, in a checkout or an installed wheel."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def shipped_dir(kind: str) -> Path:
    """The `kind` folder ("themes" or "profiles"): next to the packages in a checkout, else share/oi-tui/."""
    candidates = [_CHECKOUT / kind, Path(sys.prefix) / "share" / "oi-tui" / kind]
    data = sysconfig.get_paths().get("data")
    if data:
        candidates.append(Path(data) / "share" / "oi-tui" / kind)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]
