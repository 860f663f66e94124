"""DOT emission: labels, themes and the deterministic DOT writer (no torch here)."""

from drawnet.emit.dot import to_dot
from drawnet.emit.theme import THEMES, Theme, get_theme

__all__ = ["THEMES", "Theme", "get_theme", "to_dot"]
