"""Colours and fonts for diagrams: one frozen :class:`Theme` per look.

``default`` colours boxes by layer family; ``print`` is greyscale with a serif font for
papers. Pass your own ``Theme`` (or ``get_theme("default").replace(...)``) to change it.
Both name a font shipped with drawnet (Arimo, Tinos: see :mod:`drawnet.fonts`), so
every output shows the text in the font its boxes were sized for.

Example:
    >>> get_theme("default").fontname, get_theme("print").fontname
    ('Arimo', 'Tinos')
    >>> family_of("BatchNorm2d")
    'norm'
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from drawnet.errors import OptionError, choices
from drawnet.fonts import SANS, SERIF

FAMILIES = ("conv", "linear", "norm", "activation", "pool", "attention", "embedding",
            "recurrent", "dropout", "block", "other")

# Order matters: the first pattern that matches a class name wins.
_FAMILY_RULES: tuple[tuple[str, str], ...] = (
    ("attention", r"Attention|Attn|MHA"),
    ("embedding", r"Embedding"),
    ("recurrent", r"LSTM|GRU|RNN"),
    ("norm", r"Norm"),
    ("linear", r"^Linear$|Linear$|^Conv1D$|Bilinear|Identity$"),
    ("conv", r"Conv"),
    ("pool", r"Pool"),
    ("dropout", r"Dropout"),
    ("activation", r"ReLU|GELU|SiLU|Sigmoid|Tanh|Softmax|Hardswish|Hardsigmoid|Mish|ELU|"
                   r"Softplus|Activation|Act$|Swish|Hardtanh|Threshold|PReLU"),
)


def family_of(class_name: str) -> str:
    """The layer family used for colouring ('other' when no rule matches)."""
    for family, pattern in _FAMILY_RULES:
        if re.search(pattern, class_name):
            return family
    return "other"


@dataclass(frozen=True)
class Theme:
    """Everything about the look of a diagram that is not layout."""

    name: str
    fontname: str = SANS
    fontsize: float = 9.0
    small_fontsize: float = 8.0
    background: str = "white"
    edge_color: str = "#555555"
    text_color: str = "#1a1a1a"
    muted_color: str = "#666666"
    border_color: str = "#4d4d4d"
    cluster_color: str = "#9e9e9e"
    cluster_fill: str = "#fafafa"
    io_fill: str = "#e8e8e8"
    function_fill: str = "#ffffff"
    heat_color: str = "#e8590c"
    fills: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def fill_for(self, family: str) -> str:
        """Fill colour for a layer family."""
        for fam, colour in self.fills:
            if fam == family:
                return colour
        return "#f2f2f2"

    def replace(self, **changes: object) -> Theme:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


DEFAULT = Theme(
    name="default",
    fills=(
        ("conv", "#cfe2f3"), ("linear", "#f4cccc"), ("norm", "#d9ead3"),
        ("activation", "#fff2cc"), ("pool", "#d9d2e9"), ("attention", "#fce5cd"),
        ("embedding", "#d0e0e3"), ("recurrent", "#ead1dc"), ("dropout", "#eeeeee"),
        ("block", "#e6e6e6"), ("other", "#f3f3f3"),
    ),
)

PRINT = Theme(
    name="print", fontname=SERIF, edge_color="#000000", text_color="#000000",
    muted_color="#444444", border_color="#000000", cluster_color="#777777",
    cluster_fill="#ffffff", io_fill="#ffffff", function_fill="#ffffff", heat_color="#7a7a7a",
    fills=(
        ("conv", "#e0e0e0"), ("linear", "#cccccc"), ("norm", "#f2f2f2"),
        ("activation", "#ffffff"), ("pool", "#ebebeb"), ("attention", "#d6d6d6"),
        ("embedding", "#e6e6e6"), ("recurrent", "#d9d9d9"), ("dropout", "#ffffff"),
        ("block", "#eeeeee"), ("other", "#f7f7f7"),
    ),
)

THEMES: dict[str, Theme] = {"default": DEFAULT, "print": PRINT}


def get_theme(theme: str | Theme) -> Theme:
    """Resolve a theme name or pass a :class:`Theme` through."""
    if isinstance(theme, Theme):
        return theme
    if not isinstance(theme, str):
        raise OptionError(f"theme must be a name or a drawnet Theme, got {type(theme).__name__}")
    if theme not in THEMES:
        raise choices(theme, tuple(THEMES), "theme")
    return THEMES[theme]
