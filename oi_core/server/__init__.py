"""The core on the network: `Server` (WebSocket, HTTP settings, an OpenAI-compatible endpoint).

    from oi_core.server import Server, ServerConfig
    Server(interpreter, ServerConfig(port=8000)).run()

See oi_core/server/app.py for the endpoints and sessions.py for the WebSocket protocol. Importing this
package is cheap: aiohttp loads only with `Server` (the in-process client uses `calls` without it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "Server", "ServerConfig", "clone_interpreter"]


def __getattr__(name: str) -> Any:
    if name in ("Server", "clone_interpreter"):
        from . import app

        return getattr(app, name)
    if name in ("ConfigError", "ServerConfig"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module 'oi_core.server' has no attribute {name!r}")
