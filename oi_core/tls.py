"""One TLS certificate store per process: building one costs ~20 ms of CPU, more than a whole local request."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def context() -> Any:
    """httpx's default verification (certifi's bundle; SSL_CERT_FILE / SSL_CERT_DIR honoured), built once."""
    import httpx

    return httpx.create_ssl_context()


__all__ = ["context"]
