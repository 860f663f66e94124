"""The shipped fonts: widths the layout can trust, SVG that carries them, PDF that embeds them."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from drawnet import fonts
from drawnet import render as R
from drawnet.emit.layout import text_size
from drawnet.errors import OptionError
from tests.test_render import HOSTILE, SVG_NS, hide_system_dot, svg_texts

FACES = [(family, bold) for family in fonts.FAMILIES for bold in (False, True)]
ASCII = "".join(chr(c) for c in range(32, 127))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="no system Graphviz `dot`")


def label_dot(fontname: str, lines: list[tuple[str, float, bool]], margin: str = "0") -> str:
    """A one-box graph whose HTML label holds ``lines`` (escaped for DOT)."""
    parts = []
    for text, size, bold in lines:
        esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        esc = f"<B>{esc}</B>" if bold else esc
        parts.append(f'<FONT POINT-SIZE="{size:g}">{esc}</FONT>')
    return (f'digraph {{ pad=0; a [shape=box, margin="{margin}", width=0, height=0, '
            f'fontname="{fontname}", label=<{"<BR/>".join(parts)}>] }}')


def box_width(svg: bytes) -> float:
    return float(ET.fromstring(svg).attrib["width"].removesuffix("pt"))


def subsets(svg: bytes) -> dict[tuple[str, int], TTFont]:
    """The embedded fonts of an SVG by (family, weight), decoded from their data URIs."""
    style = ET.fromstring(svg).find(f"{SVG_NS}style")
    assert style is not None
    assert style.text
    found = {}
    for rule in re.findall(r"@font-face\{([^}]*)\}", style.text):
        family = re.search(r'font-family:"([^"]+)"', rule)
        weight = re.search(r"font-weight:(\d+)", rule)
        data = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", rule)
        assert family, rule
        assert weight, rule
        assert data, rule
        found[(family[1], int(weight[1]))] = TTFont(io.BytesIO(base64.b64decode(data[1])))
    return found


# --------------------------------------------------------------------------- files, widths


def test_shipped_files_and_licence() -> None:
    for family, bold in FACES:
        font = TTFont(fonts.font_file(family, bold=bold))
        names = font["name"]
        assert names.getDebugName(1) == family
        assert names.getDebugName(2) == ("Bold" if bold else "Regular")
        assert "Open Font License" in (names.getDebugName(13) or "")
        assert "fpgm" not in font
        assert "DSIG" not in font
    licence = (fonts.font_dir() / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence
    assert "Arimo" in licence
    assert "Tinos" in licence


@pytest.mark.parametrize(("family", "bold"), FACES)
def test_width_table_is_the_fonts_own(family: str, bold: bool) -> None:
    font = TTFont(fonts.font_file(family, bold=bold))
    cmap, hmtx = font.getBestCmap(), font["hmtx"].metrics
    upm = font["head"].unitsPerEm
    for ch in ASCII:
        expected = round(hmtx[cmap[ord(ch)]][0] * 100 / upm, 2)
        assert fonts.text_width(ch, 100.0, family, bold=bold) == expected, ch


@pytest.mark.parametrize(("family", "bold"), FACES)
@pytest.mark.parametrize("text", [ASCII.replace("\\", ""), "layer1.0.conv1 · 3×3 → 64"])
def test_width_is_what_graphviz_lays_out(family: str, bold: bool, text: str) -> None:
    # graphviz-pure sizes text with Graphviz's built-in Helvetica/Times tables; a box with
    # no margin is as wide as its text.
    svg = R.render(label_dot(family, [(text, 20.0, bold)]), engine="pure", embed_fonts=False)
    assert box_width(svg) == pytest.approx(fonts.text_width(text, 20.0, family, bold=bold),
                                           abs=0.6)


@pytest.mark.parametrize("family", list(fonts.FAMILIES))
def test_layout_estimate_follows_the_font(family: str) -> None:
    lines = [("features.10.block.0", 10.0, True), ("Conv2d · 3×3, 40→240 · BN", 8.0, False),
             ("1×240×14×14", 8.0, False)]
    svg = R.render(label_dot(family, lines, margin="0.1,0.04"), engine="pure")
    width, _ = text_size(lines, family)
    # text_size adds 0.28 in of margin where Graphviz adds 0.2 in (margin 0.1 each side)
    assert width * 72 == pytest.approx(box_width(svg) + 0.08 * 72, abs=1.0)
    wide = [(t.upper(), s, b) for t, s, b in lines]
    assert text_size(wide, family)[0] > width


def test_names_with_the_same_metrics() -> None:
    for name in ("Arimo", "Helvetica", "Helvetica-Bold", "Arial", "Liberation Sans",
                 "Helvetica,sans-Serif", "'Arimo', sans-serif"):
        assert fonts.family_of(name) is fonts.FAMILIES["Arimo"], name
    for name in ("Tinos", "Times-Roman", "Times,serif", "Times New Roman", "Times-BoldItalic"):
        assert fonts.family_of(name) is fonts.FAMILIES["Tinos"], name
    for name in ("Courier", "DejaVu Sans", "sans-serif", "", "drawnet-Arimo-0123abcd"):
        assert fonts.family_of(name) is None, name
    with pytest.raises(OptionError, match=r"no shipped font for 'Courier'.*'Arimo', 'Tinos'"):
        fonts.font_face_css("Courier", "x")


# --------------------------------------------------------------------------- SVG


def test_svg_embeds_a_subset_of_each_face_used() -> None:
    dot = (label_dot("Arimo", [("conv1 µ", 10.0, True), ("1×64 → x", 8.0, False)])
           .replace("}", '; b [fontname="Tinos", label="serif"]; a -> b }'))
    plain = R.render(dot, engine="pure", embed_fonts=False)
    svg = R.render(dot, engine="pure")
    assert svg_texts(svg) == svg_texts(plain)  # same text, same places
    found = subsets(svg)
    by_face = {(name.split("-")[1], weight): font for (name, weight), font in found.items()}
    assert sorted(by_face) == [("Arimo", 400), ("Arimo", 700), ("Tinos", 400)]
    expected = {("Arimo", 700): "conv1 µ", ("Arimo", 400): "1×64 → x", ("Tinos", 400): "serif"}
    for face, text in expected.items():
        font = by_face[face]
        assert set(font.getBestCmap()) == {ord(c) for c in text}  # only the glyphs used
        assert "GPOS" not in font
        assert "kern" not in font
        assert "Open Font License" in (font["name"].getDebugName(13) or "")
        # advance widths are the shipped font's
        shipped = TTFont(fonts.font_file(face[0], bold=face[1] == 700))
        for ch in text:
            glyph, ship_glyph = font.getBestCmap()[ord(ch)], shipped.getBestCmap()[ord(ch)]
            assert font["hmtx"][glyph][0] == shipped["hmtx"][ship_glyph][0]
    families = {t.attrib["font-family"] for t in ET.fromstring(svg).iter(f"{SVG_NS}text")}
    names = {name for name, _ in found}
    assert families == {f"'{n}',{n.split('-')[1]},{rest}" for n in names
                        for rest in ["Arial,Helvetica,sans-serif"] if "Arimo" in n} | {
        f"'{n}',Tinos,'Times New Roman',Times,serif" for n in names if "Tinos" in n}
    assert len(svg) - len(plain) < 12_000


def test_svg_embedding_is_deterministic_idempotent_and_safe() -> None:
    escaped = HOSTILE.replace('"', '\\"')
    dot = f'digraph {{ node [fontname="Arimo"]; a [label="{escaped}"]; "]]></style>" -> a }}'
    svg = R.render(dot, engine="pure")
    assert svg == R.render(dot, engine="pure")
    assert fonts.embed_svg_fonts(svg) == svg  # nothing left to embed
    assert "<script>& \"quoted\" 'x' 3×3 → µ é 你好" in svg_texts(svg)
    assert "]]></style>" in svg_texts(svg)
    assert svg.count(b"<style>") == 1
    (font,) = subsets(svg).values()
    cmap = font.getBestCmap()
    assert ord("µ") in cmap
    assert ord("你") not in cmap


def test_two_diagrams_in_one_page_keep_their_glyphs() -> None:
    a = fonts.font_face_css("Arimo", "abc")
    b = fonts.font_face_css("Arimo", "xyz")
    assert a.family.split(",")[0] != b.family.split(",")[0]
    assert fonts.font_face_css("Arimo", "cab") == a
    assert fonts.font_face_css("Helvetica", "") == fonts.FontFaces(
        family="Arimo,Arial,Helvetica,sans-serif", css="")


def test_lines_graphviz_measured_too_narrow_are_squeezed_into_their_box() -> None:
    # Graphviz counts "→" as three spaces (0.83 em) and CJK likewise; Arimo's arrow is 1 em.
    arrows = "a→b→c→d→e→f→g→h→i→j"
    dot = (f'digraph {{ node [shape=box, fontname="Arimo", margin=0]; a [label="{arrows}"]; '
           'b [label="plain"]; c [shape=plaintext, label="→→→→ no box"] }')
    svg = R.render(dot, engine="pure")
    texts = {"".join(t.itertext()): t.attrib for t in ET.fromstring(svg).iter(f"{SVG_NS}text")}
    assert fonts.drawn_width(arrows, 14.0) > fonts.text_width(arrows, 14.0) + 1
    squeezed = texts[arrows]
    assert squeezed["lengthAdjust"] == "spacingAndGlyphs"
    box = next(n for n in ET.fromstring(svg).iter(f"{SVG_NS}g") if n.get("class") == "node")
    polygon = box.find(f"{SVG_NS}polygon")
    assert polygon is not None
    xs = [float(p.split(",")[0]) for p in polygon.attrib["points"].split()]
    assert squeezed["text-anchor"] == "middle"  # a plain label: centred on x
    right = float(squeezed["x"]) + float(squeezed["textLength"]) / 2
    assert right == pytest.approx(max(xs) - 1.0, abs=0.01)  # 1 pt clear of the edge
    assert "textLength" not in texts["plain"]  # ASCII is exactly as wide as laid out
    assert "textLength" not in texts["→→→→ no box"]  # nothing to fit it into
    # drawnet's own diagrams have room: nothing is squeezed
    import drawnet
    from tests.models import TinyResNet

    assert b"textLength" not in drawnet.draw_model(TinyResNet(), [1, 3, 32, 32],
                                                   engine="pure").pipe("svg")


def test_svg_without_shipped_fonts_is_left_alone() -> None:
    svg = R.render('digraph { a [fontname="Courier"] }', engine="pure")
    assert svg == R.render('digraph { a [fontname="Courier"] }', engine="pure", embed_fonts=False)
    assert b"<style>" not in svg


# --------------------------------------------------------------------------- PDF


def pdf_streams(pdf: bytes) -> list[bytes]:
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2])
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            out.append(data)
    return out


def pdf_text_origins(pdf: bytes) -> list[tuple[float, float, bytes]]:
    """(x, y, string) of every text shown on the page, in page coordinates.

    A small interpreter for what reportlab writes: q/Q, cm and BT ... Tm ... Tj ... ET.
    """
    page = next(s for s in pdf_streams(pdf) if b" Tj" in s)
    ctm = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    stack = []
    out = []
    token = re.compile(rb"\((?:\\.|[^\\)])*\)|[^\s()]+")
    operands: list[bytes] = []
    tm = (0.0, 0.0)
    for tok in token.findall(page):
        if tok == b"q":
            stack.append(ctm)
        elif tok == b"Q":
            ctm = stack.pop()
        elif tok == b"cm":
            a, b, c, d, e, f = (float(v) for v in operands[-6:])
            A, B, C, D, E, F = ctm
            ctm = (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D,
                   e * A + f * C + E, e * B + f * D + F)
        elif tok == b"Tm":
            tm = (float(operands[-2]), float(operands[-1]))
        elif tok == b"Tj":
            A, B, C, D, E, F = ctm
            x, y = tm
            out.append((x * A + y * C + E, x * B + y * D + F, operands[-1][1:-1]))
        if tok[:1].isalpha() or tok in (b"'", b'"'):
            operands = []
        else:
            operands.append(tok)
    return out


@pytest.mark.parametrize("theme", ["default", "print"])
def test_pdf_embeds_the_font_and_puts_text_where_the_svg_does(
    theme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import drawnet
    from tests.models import TinyResNet

    hide_system_dot(monkeypatch)
    d = drawnet.draw_model(TinyResNet(), [1, 3, 32, 32], theme=theme)
    pdf, svg = d.pipe("pdf"), d.pipe("svg")
    family = "Arimo" if theme == "default" else "Tinos"
    base_fonts = re.findall(rb"/BaseFont /(\S+)", pdf)
    assert sorted(base_fonts) == [f"AAAAAA+{family}".encode(), f"AAAAAA+{family}-Bold".encode()]
    assert pdf.count(b"/FontFile2") == len(base_fonts)  # every font embedded
    # same text at the same places: SVG user units are PDF points
    root = ET.fromstring(svg)
    height = float(root.attrib["height"].removesuffix("pt"))
    graph = root.find(f"{SVG_NS}g")
    assert graph is not None
    tx, ty = (float(v) for v in re.findall(r"translate\(([-\d.]+) ([-\d.]+)\)",
                                             graph.attrib["transform"])[0])
    texts = [(float(t.attrib["x"]) + tx, height - (float(t.attrib["y"]) + ty), t)
             for t in root.iter(f"{SVG_NS}text")]
    placed = pdf_text_origins(pdf)
    assert len(placed) == len(texts) > 10
    for (x, y, node), (px, py, shown) in zip(texts, placed, strict=True):
        text = "".join(node.itertext())
        if node.attrib.get("text-anchor", "start") == "start":
            assert px == pytest.approx(x, abs=0.01), text
        assert py == pytest.approx(y, abs=0.01), text
        if text.isascii():
            assert shown == text.encode().replace(b"(", b"\\(").replace(b")", b"\\)")


# --------------------------------------------------------------------------- system dot


def dejavu_only_config(tmp_path: Path) -> Path:
    """A fontconfig file that shows only DejaVu fonts, whatever the machine has."""
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if not dejavu.is_dir():
        pytest.skip("no DejaVu fonts in /usr/share/fonts/truetype/dejavu")
    path = tmp_path / "fonts.conf"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><dir>{dejavu}</dir><cachedir>{tmp_path / 'cache'}</cachedir>"
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>\n',
        encoding="utf-8")
    return path


def test_fontconfig_file_adds_the_shipped_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = dejavu_only_config(tmp_path)
    monkeypatch.setenv("FONTCONFIG_FILE", str(base))
    config = fonts.fontconfig_file("/usr/bin/dot")
    assert config is not None
    text = config.read_text(encoding="utf-8")
    assert f"<include ignore_missing=\"yes\">{base}</include>" in text
    assert f"<dir>{fonts.font_dir()}</dir>" in text
    assert fonts.fontconfig_file("/usr/bin/dot") == config  # reused, not rewritten
    monkeypatch.setenv("FONTCONFIG_FILE", str(tmp_path / "missing.conf"))
    assert fonts.fontconfig_file("/usr/bin/dot") is None  # dot then runs as it is


@pytest.mark.exe
@needs_dot
@pytest.mark.parametrize("family", list(fonts.FAMILIES))
def test_system_dot_uses_the_shipped_font_on_a_dejavu_only_machine(
    family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FONTCONFIG_FILE", str(dejavu_only_config(tmp_path)))
    text = "encoder.layer.0.attention.self.query " * 2
    dot = label_dot(family, [(text, 100.0, False)])
    expected = box_width(R.render(dot, engine="pure", embed_fonts=False))
    # dot measures with pango (hinted at small sizes): at 100 pt it is the font's width,
    # against DejaVu's 12-14 % more without the shipped fonts
    assert box_width(R.render(dot, engine="system")) == pytest.approx(expected, rel=0.01)
    pdf = R.render(dot, "pdf", engine="system")
    assert re.search(rb"/FontName /[A-Z]{6}\+" + family.encode(), pdf)
    assert b"DejaVu" not in pdf
    monkeypatch.setattr(fonts, "fontconfig_file", lambda dot: None)
    assert box_width(R.render(dot, engine="system")) > expected * 1.05


def test_system_dot_gets_the_config_in_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake "dot" that prints the FONTCONFIG_FILE it was given, as SVG text.
    seen: list[dict[str, str] | None] = []

    def run(argv: list[str], **kwargs: object) -> object:
        env = kwargs.get("env")
        seen.append(env if isinstance(env, dict) else None)

        class Done:
            returncode = 0
            stdout = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
            stderr = b""
        return Done()

    monkeypatch.setattr(R, "_system_dot", lambda: "/usr/bin/dot")
    monkeypatch.setattr(R.subprocess, "run", run)
    monkeypatch.setattr(fonts, "fontconfig_file", lambda dot: Path("/x/fonts.conf"))
    R.render("digraph { a }", engine="system")
    assert seen[-1] is not None
    assert seen[-1]["FONTCONFIG_FILE"] == "/x/fonts.conf"
    assert seen[-1].get("PATH") == os.environ.get("PATH")
