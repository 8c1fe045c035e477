"""The core on the network: `Server` (WebSocket, HTTP settings, an OpenAI-compatible endpoint).

    from oi_core.server import Server, ServerConfig
    Server(interpreter, ServerConfig(port=8000)).run()

See oi_core/server/app.py for the endpoints and sessions.py for the WebSocket protocol.
"""

from __future__ import annotations

from .app import Server, clone_interpreter
from .config import ConfigError, ServerConfig

__all__ = ["ConfigError", "Server", "ServerConfig", "clone_interpreter"]
