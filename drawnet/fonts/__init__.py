"""The fonts diagrams are set in, shipped with drawnet so that every output shows the same text.

Diagrams name **Arimo** (sans-serif, the default theme) or **Tinos** (serif, the print
theme). Their advance widths are those of Arial/Helvetica and Times, the fonts whose widths
Graphviz has built in, so Graphviz without any system font sizes each box for exactly the
text that is drawn in it. The font files (SIL Open Font License 1.1, ``OFL.txt`` beside this
module) travel with every output:

* **SVG**: :func:`embed_svg_fonts` adds an ``@font-face`` rule per face used, holding a WOFF
  subset of the glyphs in the diagram as a ``data:`` URI (about 10 KB for a ResNet), and
  names it first in each ``font-family``, before metric-compatible local fonts (``Arimo, Arial,
  Helvetica, sans-serif``) for viewers that ignore ``@font-face``. A browser that has only
  DejaVu fonts draws the same widths as the layout.
* **PDF** (made from the SVG by svglib): text is set in the shipped TrueType files, which
  reportlab embeds as subsets (:func:`svglib_font_map`).
* **PNG** from graphviz-pure: drawn with its own built-in copies of Arimo and Tinos.
* **System Graphviz**: :func:`fontconfig_file` lets ``dot`` find the shipped fonts through
  fontconfig, so it measures, draws and embeds them too, whatever the machine has.

:func:`font_face_css` gives the ``@font-face`` CSS for any page (such as the HTML explorer),
and :func:`text_width` the width Graphviz gives a string, for layout estimates.

Example:
    >>> family_of("Helvetica").name, family_of("Times-Roman").name, family_of("Courier")
    ('Arimo', 'Tinos', None)
    >>> text_width("conv1", 10.0)  # points
    26.68
    >>> text_width("conv1", 10.0, "Tinos", bold=True)
    25.0
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib
import io
import os
import re
import stat
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from drawnet.errors import OptionError
from drawnet.fonts._metrics import UNITS_PER_EM, WIDTHS

__all__ = [
    "FAMILIES",
    "PDF_BASE_FONT",
    "SANS",
    "SERIF",
    "Family",
    "FontFaces",
    "drawn_width",
    "embed_svg_fonts",
    "family_of",
    "font_dir",
    "font_face_css",
    "font_file",
    "fontconfig_file",
    "pdf_family",
    "svg_for_pdf",
    "svglib_font_map",
    "text_width",
]

#: The sans-serif family diagrams are set in (metrics of Arial and Helvetica).
SANS: Final = "Arimo"
#: The serif family of the print theme (metrics of Times New Roman and Times).
SERIF: Final = "Tinos"

_SVG_NS: Final = "{http://www.w3.org/2000/svg}"


def _key(name: str) -> str:
    """A font name reduced for matching: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Family:
    """One shipped font family and the names that stand for it.

    ``local`` lists metric-compatible fonts a viewer may have (named after the embedded
    font in SVG); ``aliases`` the names, reduced by ``_key``, under which Graphviz sizes
    text with the same widths, so that text laid out under them can be set in this font.
    """

    name: str
    generic: str
    local: tuple[str, ...]
    aliases: frozenset[str]

    def face(self, bold: bool = False) -> str:
        """File stem of the regular or bold face, e.g. ``'Arimo-Bold'``."""
        return f"{self.name}-{'Bold' if bold else 'Regular'}"


FAMILIES: Final[Mapping[str, Family]] = {
    SANS: Family(SANS, "sans-serif", ("Arial", "Helvetica"), frozenset({
        "arimo", "arial", "helvetica", "liberationsans", "nimbussans", "nimbussansl",
        "freesans", "texgyreheros",
    })),
    SERIF: Family(SERIF, "serif", ("Times New Roman", "Times"), frozenset({
        "tinos", "times", "timesroman", "timesnewroman", "liberationserif", "nimbusroman",
        "nimbusromanno9l", "freeserif", "texgyretermes",
    })),
}
_STYLE_SUFFIX = re.compile(r"(bold|italic|oblique|regular|medium|book)+$")


@functools.lru_cache(maxsize=256)
def family_of(fontname: str) -> Family | None:
    """The shipped family that ``fontname`` names or has the metrics of, else None.

    ``fontname`` may be a DOT ``fontname`` (``"Helvetica"``, ``"Times-Bold"``) or an SVG
    ``font-family`` list, of which the first entry counts (``"Times,serif"``).

    Example:
        >>> family_of("Times,serif").name, family_of("'Liberation Sans', sans-serif").name
        ('Tinos', 'Arimo')
        >>> family_of("DejaVu Sans") is None
        True
    """
    first = _key(fontname.split(",", 1)[0])
    for candidate in (first, _STYLE_SUFFIX.sub("", first)):
        for family in FAMILIES.values():
            if candidate in family.aliases:
                return family
    return None


def _family(fontname: str) -> Family:
    family = family_of(fontname)
    if family is None:
        raise OptionError(
            f"no shipped font for {fontname!r} (must name one of "
            f"{', '.join(repr(f) for f in FAMILIES)}, or a font with their metrics such as "
            "'Helvetica' or 'Times-Roman')"
        )
    return family


# --------------------------------------------------------------------------- files


def font_dir() -> Path:
    """The folder holding the shipped ``.ttf`` files and their licence, ``OFL.txt``.

    Example:
        >>> sorted(p.name for p in font_dir().glob("*.ttf"))[:2]
        ['Arimo-Bold.ttf', 'Arimo-Regular.ttf']
    """
    return Path(__file__).resolve().parent


def font_file(fontname: str = SANS, *, bold: bool = False) -> Path:
    """Path of the TrueType file of a shipped family (or a name with its metrics).

    Example:
        >>> font_file("Times-Roman", bold=True).name
        'Tinos-Bold.ttf'
    """
    return font_dir() / f"{_family(fontname).face(bold)}.ttf"


# --------------------------------------------------------------------------- widths


def text_width(text: str, size: float, fontname: str = SANS, *, bold: bool = False) -> float:
    """Width in points that Graphviz's layout gives ``text`` at ``size`` points.

    For ASCII this is the shipped font's own advance width, which equals Graphviz's
    built-in Helvetica/Times tables to 1/1000 em. Like those tables, every other
    character counts one space per UTF-8 byte (``×`` two, ``→`` three). Names without a
    shipped family are estimated with Arimo. Rounded to 0.01 pt.

    Example:
        >>> text_width("ab", 10.0), text_width("a×b", 10.0)
        (11.12, 16.68)
    """
    family = family_of(fontname) or FAMILIES[SANS]
    widths = WIDTHS[family.face(bold)]
    space = widths[0]
    units = 0
    for ch in text:
        code = ord(ch)
        units += widths[code - 32] if 32 <= code < 127 else space * len(
            ch.encode("utf-8", "surrogatepass"))
    return round(units * size / UNITS_PER_EM, 2)


# --------------------------------------------------------------------------- SVG and CSS


@dataclass(frozen=True)
class FontFaces:
    """``@font-face`` rules for one shipped family and the ``font-family`` value using them.

    ``family`` names the embedded subset first (a name made from its content, so two
    diagrams in one HTML page never replace each other's glyphs), then metric-compatible
    local fonts and the generic family.
    """

    family: str
    css: str


@functools.lru_cache(maxsize=256)
def _woff_subset(face: str, chars: str) -> bytes:
    """WOFF of one shipped face cut down to ``chars``: no hinting, no kerning.

    Kerning is left out so that text is exactly as wide as Graphviz laid it out (its
    tables have none), and as reportlab sets it in PDF.
    """
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(font_dir() / f"{face}.ttf", recalcTimestamp=False)
    for tag in ("GSUB", "GPOS", "GDEF", "kern"):  # unused here, and slow to read
        if tag in font:
            del font[tag]
    options = subset.Options()
    options.flavor = "woff"
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keeps the copyright and licence
    options.notdef_outline = True
    options.drop_tables = [*options.drop_tables, "DSIG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out)
    return out.getvalue()


def font_face_css(fontname: str = SANS, text: str = "", bold_text: str = "") -> FontFaces:
    """CSS that embeds a shipped family, subset to the characters of ``text``/``bold_text``.

    ``text`` is set in the regular face, ``bold_text`` in the bold one; a face with no
    characters gets no rule. Put ``css`` in a ``<style>`` element and ``family`` in
    ``font-family`` (CSS or an SVG attribute); the output is the same for the same input.

    Raises:
        OptionError: ``fontname`` is neither a shipped family nor has its metrics.

    Example:
        >>> faces = font_face_css("Arimo", "conv1", bold_text="layer1")
        >>> faces.family.split(",")[1:]
        ['Arimo', 'Arial', 'Helvetica', 'sans-serif']
        >>> faces.css.count("@font-face"), "font/woff;base64," in faces.css
        (2, True)
    """
    family = _family(fontname)
    fonts = []
    for bold, chars in ((False, text), (True, bold_text)):
        used = "".join(sorted(set(chars) - set("\n\r\t")))
        if used:
            fonts.append((bold, _woff_subset(family.face(bold), used)))
    digest = hashlib.sha256(b"".join(data for _, data in fonts)).hexdigest()[:8]
    name = f"drawnet-{family.name}-{digest}" if fonts else None
    rules = [
        f'@font-face{{font-family:"{name}";font-style:normal;'
        f"font-weight:{700 if bold else 400};"
        f'src:url(data:font/woff;base64,{base64.b64encode(data).decode("ascii")}) '
        'format("woff")}'
        for bold, data in fonts
    ]
    names = [name, family.name, *family.local] if name else [family.name, *family.local]
    quoted = [f"'{n}'" if " " in n or n.startswith("drawnet-") else n for n in names]
    return FontFaces(family=",".join([*quoted, family.generic]), css="\n".join(rules))


def _is_bold(weight: str | None) -> bool:
    if not weight:
        return False
    if weight.isdigit():
        return int(weight) >= 600
    return weight.strip().lower() in ("bold", "bolder")


_FONT_FAMILY = re.compile(rb'font-family="([^"]*)"')
_SVG_OPEN = re.compile(rb"<svg\b[^>]*>")


def embed_svg_fonts(svg: bytes) -> bytes:
    """Embed the shipped fonts used by an SVG from Graphviz, subset to the text drawn.

    Every ``font-family`` that names a shipped family or one with its metrics
    (``Arimo``, ``Helvetica,sans-Serif``, ``Times,serif``...) is rewritten to put the
    embedded font first (see :class:`FontFaces`); one ``<style>`` with the
    ``@font-face`` rules goes right after the ``<svg>`` tag. Other fonts are left as
    they are. SVG without such text comes back unchanged.

    A line that the embedded font would draw past the edge of its box gets a
    ``textLength`` that squeezes it inside. Graphviz's built-in tables count each byte
    of a non-ASCII character as a space (``→`` and CJK come out narrow), and a system
    ``dot`` rounds widths to whole pixels of its hinted font (up to 5 % off at 8-14 pt);
    everything else already fits and is left alone.

    Example:
        >>> svg = (b'<svg xmlns="http://www.w3.org/2000/svg"><text font-family="Arimo" '
        ...        b'font-weight="bold">conv1</text></svg>')
        >>> out = embed_svg_fonts(svg)
        >>> out.count(b"@font-face"), b"font-weight:700" in out
        (1, True)
        >>> ET.fromstring(out).find(_SVG_NS + "text").get("font-family").split(",")[1]
        'Arimo'
    """
    if b"font-family=" not in svg:
        return svg
    root = ET.fromstring(svg)
    chars: dict[tuple[str, bool], set[str]] = {}
    for node in root.iter(_SVG_NS + "text"):
        family = family_of(node.get("font-family") or "")
        if family is not None:
            key = (family.name, _is_bold(node.get("font-weight")))
            chars.setdefault(key, set()).update("".join(node.itertext()))
    if not chars:
        return svg
    faces = {
        name: font_face_css(name, "".join(chars.get((name, False), ())),
                            "".join(chars.get((name, True), ())))
        for name in sorted({name for name, _ in chars})
    }

    def replace(match: re.Match[bytes]) -> bytes:
        family = family_of(match[1].decode("utf-8", "replace"))
        if family is None or family.name not in faces:
            return match[0]
        value = escape(faces[family.name].family, {'"': "&quot;"})
        return b'font-family="' + value.encode("utf-8") + b'"'

    body = _FONT_FAMILY.sub(replace, _fit_text(svg))
    opening = _SVG_OPEN.search(body)
    if opening is None:
        return svg
    css = "\n".join(f.css for f in faces.values() if f.css)
    style = (f"\n<!-- {', '.join(faces)}: subset, SIL Open Font License 1.1 -->\n"
             f"<style>\n{css}\n</style>").encode("ascii")
    return body[:opening.end()] + style + body[opening.end():]


_SEGMENT = re.compile(rb'<g id="[^"]*" class="(node|cluster|edge)">')
_TEXT = re.compile(rb"<text\b([^>]*)>(.*?)</text>", re.S)
_ATTR = re.compile(rb'([\w:-]+)="([^"]*)"')
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_SHAPE = re.compile(rb"<(polygon|path|ellipse|rect)\b([^>]*)/?>")
_PAD = 1.0  # points kept clear between a squeezed line and its box's edge


@functools.lru_cache(maxsize=8)
def _advances(face: str) -> tuple[dict[int, int], int]:
    """Advance width of every character of a shipped face, and its units per em."""
    from fontTools.ttLib import TTFont

    font = TTFont(font_dir() / f"{face}.ttf", lazy=True)
    hmtx = font["hmtx"].metrics
    return {code: hmtx[glyph][0] for code, glyph in font.getBestCmap().items()}, \
        font["head"].unitsPerEm


def drawn_width(text: str, size: float, fontname: str = SANS, *, bold: bool = False) -> float:
    """Width in points of ``text`` as the shipped font draws it, without kerning.

    Characters the font lacks (CJK, emoji) are taken as 1 em, about what a viewer's
    fallback font draws. Compare :func:`text_width`, the width Graphviz lays out.

    Example:
        >>> drawn_width("a→b", 10.0), text_width("a→b", 10.0)
        (21.12, 19.46)
    """
    advances, upm = _advances(_family(fontname).face(bold))
    return round(sum(advances.get(ord(ch), upm) for ch in text) * size / upm, 2)


def _boxes(segment: bytes) -> list[tuple[float, float, float, float]]:
    """Bounding boxes (x0, y0, x1, y1) of the shapes drawn in one SVG group."""
    boxes = []
    for kind, attrs in _SHAPE.findall(segment):
        values = dict(_ATTR.findall(attrs))
        if kind == b"ellipse":
            try:
                cx, cy, rx, ry = (float(values[k]) for k in (b"cx", b"cy", b"rx", b"ry"))
            except (KeyError, ValueError):
                continue
            boxes.append((cx - rx, cy - ry, cx + rx, cy + ry))
            continue
        source = values.get(b"points") or values.get(b"d") or b""
        numbers = [float(n) for n in _NUMBER.findall(source)]
        xs, ys = numbers[0::2], numbers[1::2]
        if xs and ys:
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return boxes


def _fit_text(svg: bytes) -> bytes:
    """Give ``textLength`` to node and cluster text that would overrun its shape."""
    groups = list(_SEGMENT.finditer(svg))
    if not groups:
        return svg
    out = [svg[:groups[0].start()]]
    ends = [g.start() for g in groups[1:]] + [len(svg)]
    for group, end in zip(groups, ends, strict=True):
        segment = svg[group.start():end]  # up to the next node, edge or cluster
        if group[1] != b"edge":
            fit = functools.partial(_fit_line, boxes=_boxes(segment))
            segment = _TEXT.sub(fit, segment)
        out.append(segment)
    return b"".join(out)


def _fit_line(match: re.Match[bytes], boxes: list[tuple[float, float, float, float]]) -> bytes:
    attrs = {k.decode(): v.decode("utf-8", "replace") for k, v in _ATTR.findall(match[1])}
    family = family_of(attrs.get("font-family", ""))
    if family is None or "textLength" in attrs:
        return match[0]
    try:
        x, y = float(attrs["x"]), float(attrs["y"])
        size = float(attrs.get("font-size", "14"))
    except (KeyError, ValueError):
        return match[0]
    text = html.unescape(re.sub(r"<[^>]*>", "", match[2].decode("utf-8", "replace")))
    width = drawn_width(text, size, family.name, bold=_is_bold(attrs.get("font-weight")))
    middle = y - 0.3 * size  # the baseline is at y; the letters' middle a little above
    holders = [b for b in boxes if b[0] <= x <= b[2] and b[1] <= middle <= b[3]]
    if not holders:
        return match[0]
    x0, _, x1, _ = min(holders, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    anchor = attrs.get("text-anchor", "start")
    if anchor == "middle":
        room = 2 * min(x - x0, x1 - x) - 2 * _PAD
    elif anchor == "end":
        room = x - x0 - _PAD
    else:
        room = x1 - x - _PAD
    if width <= room or room <= 0:
        return match[0]
    fitted = f' textLength="{room:.2f}" lengthAdjust="spacingAndGlyphs"'.encode()
    return b"<text" + match[1] + fitted + b">" + match[2] + b"</text>"


# --------------------------------------------------------------------------- PDF


#: The reportlab name of the shipped regular Arimo, registered by :func:`svglib_font_map`.
#: Make it a PDF canvas's initial font, or reportlab declares standard Helvetica, unembedded.
PDF_BASE_FONT: Final = f"drawnet-{FAMILIES[SANS].face()}"


@functools.lru_cache(maxsize=1)
def svglib_font_map() -> Any:
    """An svglib ``FontMap`` that sets the shipped families in the shipped TrueType files.

    Give it to ``svg2rlg(..., font_map=...)`` with an SVG whose ``font-family`` values
    were passed through :func:`svg_for_pdf`; reportlab then embeds the glyphs used. Made
    once per process (registering a font with reportlab parses it); svglib's own global
    font map is left alone.
    """
    fonts: Any = importlib.import_module("svglib.fonts")
    font_map = fonts.FontMap()
    for family in FAMILIES.values():
        for bold in (False, True):
            weight = "bold" if bold else "normal"
            registered, _ = font_map.register_font(
                pdf_family(family.name), str(font_dir() / f"{family.face(bold)}.ttf"),
                weight=weight, rlgFontName=f"drawnet-{family.face(bold)}")
            if registered is None:  # pragma: no cover - a damaged install
                raise OSError(f"reportlab could not read {family.face(bold)}.ttf")
    return font_map


def pdf_family(fontname: str) -> str:
    """The family name :func:`svglib_font_map` knows a shipped family by.

    Example:
        >>> pdf_family("Helvetica,sans-Serif")
        'drawnet-Arimo'
    """
    return f"drawnet-{_family(fontname).name}"


def svg_for_pdf(svg: bytes) -> bytes:
    """The SVG with each shipped family's ``font-family`` renamed for :func:`svglib_font_map`.

    svglib resolves ``Helvetica`` and ``Times`` to the standard PDF fonts before it looks
    at a font map, so they get a name of their own.

    Example:
        >>> svg_for_pdf(b'<text font-family="Times,serif">x</text>')
        b'<text font-family="drawnet-Tinos">x</text>'
    """

    def replace(match: re.Match[bytes]) -> bytes:
        family = family_of(match[1].decode("utf-8", "replace"))
        if family is None:
            return match[0]
        return b'font-family="' + pdf_family(family.name).encode("ascii") + b'"'

    return _FONT_FAMILY.sub(replace, svg)


# --------------------------------------------------------------------------- system Graphviz


def _base_fontconfig(dot: str) -> Path | None:
    """The fontconfig file a system ``dot`` would read by itself, if it can be found."""
    if os.environ.get("FONTCONFIG_FILE"):
        given = Path(os.environ["FONTCONFIG_FILE"])
        if not given.is_absolute():
            given = Path(os.environ.get("FONTCONFIG_PATH") or "/etc/fonts") / given
        return given if given.is_file() else None
    candidates = []
    if os.environ.get("FONTCONFIG_PATH"):
        candidates.append(Path(os.environ["FONTCONFIG_PATH"]) / "fonts.conf")
    prefix = Path(dot).resolve().parent.parent
    if prefix != Path("/usr"):
        candidates.append(prefix / "etc" / "fonts" / "fonts.conf")  # Homebrew, conda, ...
    candidates.append(Path("/etc/fonts/fonts.conf"))
    return next((c for c in candidates if c.is_file()), None)


def fontconfig_file(dot: str) -> Path | None:
    """A fontconfig file for the system ``dot`` at ``dot``: its usual one plus the shipped fonts.

    Pass it as ``FONTCONFIG_FILE`` to ``dot``: then ``fontname="Arimo"`` finds the shipped
    Arimo (and Tinos) on any machine, so boxes are measured, PNG is drawn and PDF
    embeds with the font the SVG carries. The file lives in the temporary folder under
    a name made from its content, so it is written once and reused. None on Windows,
    or when the usual configuration cannot be found: ``dot`` then runs as it is.

    Example:
        >>> path = fontconfig_file("/usr/bin/dot")
        >>> path is None or str(font_dir()) in path.read_text()
        True
    """
    if sys.platform == "win32":
        return None
    base = _base_fontconfig(dot)
    if base is None:
        return None
    folder_name = "drawnet-fontconfig-" + hashlib.sha256(
        f"{base}\0{font_dir()}".encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / folder_name
    text = (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<!-- The usual fontconfig set-up plus the fonts shipped with drawnet. -->\n"
        "<fontconfig>\n"
        f"  <cachedir>{escape(str(folder / 'cache'))}</cachedir>\n"
        f'  <include ignore_missing="yes">{escape(str(base))}</include>\n'
        f"  <dir>{escape(str(font_dir()))}</dir>\n"
        "</fontconfig>\n"
    )
    path = folder / "fonts.conf"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return None  # someone else's folder (or a link): do not trust it
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder,
                                             suffix=".tmp", delete=False) as handle:
                handle.write(text)
            os.replace(handle.name, path)
    except OSError:
        return None
    return path
