"""The computer: language runners and (in OS mode) screen, mouse, keyboard and clipboard."""

from .base import Language, NoInput, RunIO
from .computer import Computer

__all__ = ["Computer", "Language", "NoInput", "RunIO"]
