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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from drawnet.errors import OptionError, OptionTypeError, choices, safe_repr
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

    def __post_init__(self) -> None:
        """Check every field, so a bad theme fails here and not inside Graphviz.

        ``fills`` may be given as a dict or a list of pairs; it is stored as a tuple.
        """
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("fontsize", "small_fontsize"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise OptionTypeError(
                        f"Theme {f.name} must be a number of points, got "
                        f"{type(value).__name__} {safe_repr(value)}")
                if not 1 <= value <= 200:
                    raise OptionError(
                        f"Theme {f.name} must be from 1 to 200 points, got {safe_repr(value)}")
            elif f.name == "fills":
                object.__setattr__(self, "fills", _fills(value))
            elif not isinstance(value, str):
                raise OptionTypeError(
                    f"Theme {f.name} must be a string, got {type(value).__name__} "
                    f"{safe_repr(value)}")
            elif f.name == "fontname" and not _FONT.fullmatch(value):
                raise OptionError(f"Theme fontname {safe_repr(value)} is not a font name")
            elif f.name.endswith(("color", "fill", "background")) and not _COLOR.fullmatch(value):
                raise OptionError(
                    f"Theme {f.name} {safe_repr(value)} is not a colour ('#rrggbb', '#rgb' "
                    "or a name such as 'white')")

    def fill_for(self, family: str) -> str:
        """Fill colour for a layer family."""
        for fam, colour in self.fills:
            if fam == family:
                return colour
        return "#f2f2f2"

    def replace(self, **changes: object) -> Theme:
        """A copy with some fields changed (checked like a new theme).

        Example:
            >>> get_theme("default").replace(fontsize=12).fontsize
            12
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(k for k in changes if k not in names)
        if unknown:
            raise choices(unknown[0], sorted(names), "Theme field")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


_COLOR = re.compile(
    r"#(?:[0-9A-Fa-f]{3,4}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})|[A-Za-z][A-Za-z0-9]{0,39}")
_FONT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ,._-]{0,79}")


def _fills(value: object) -> tuple[tuple[str, str], ...]:
    """``Theme.fills`` as sorted-as-given pairs of (family, colour), each checked."""
    pairs = list(value.items()) if isinstance(value, Mapping) else value
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        raise OptionTypeError(
            "Theme fills must be a dict or a list of (family, colour) pairs, got "
            f"{type(value).__name__} {safe_repr(value)}")
    out: list[tuple[str, str]] = []
    for pair in pairs:
        if (not isinstance(pair, Sequence) or isinstance(pair, str | bytes) or len(pair) != 2
                or not all(isinstance(x, str) for x in pair)):
            raise OptionTypeError(
                f"Theme fills entry {safe_repr(pair)} is not a (family, colour) pair of strings")
        family, colour = pair
        if family not in FAMILIES:
            raise choices(family, FAMILIES, "layer family in Theme fills")
        if not _COLOR.fullmatch(colour):
            raise OptionError(f"Theme fills colour {safe_repr(colour)} for {family!r} is not a "
                              "colour ('#rrggbb', '#rgb' or a name such as 'white')")
        out.append((family, colour))
    return tuple(out)


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
