"""Rebuild the fonts shipped in ``drawnet/fonts`` and their width table, ``_metrics.py``.

Run from the repository root with the croscore fonts at hand (Debian ``fonts-croscore``,
version 1.33; the same files as https://github.com/googlefonts/arimo and .../tinos)::

    python -m drawnet.fonts._make /usr/share/fonts/truetype/croscore

Each shipped file is the upstream one with its TrueType hinting and digital signature
removed (about 280 KB instead of 480 KB; every glyph, kerning and name is kept). Hinting only
snaps outlines to a screen's pixel grid; the advance widths, which is what layout depends
on, are unchanged. The result stays under the SIL Open Font License 1.1 (``OFL.txt``).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

HERE = Path(__file__).parent
FACES = ("Arimo-Regular", "Arimo-Bold", "Tinos-Regular", "Tinos-Bold")


def strip_hinting(source: Path) -> bytes:
    """The font at ``source`` without hinting or DSIG, all glyphs and features kept."""
    font = TTFont(source, recalcTimestamp=False)
    options = subset.Options()
    options.hinting = False
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.name_legacy = True
    options.notdef_outline = True
    options.glyph_names = False
    options.legacy_kern = True
    options.drop_tables = [*options.drop_tables, "DSIG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=list(font.getBestCmap()))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def ascii_widths(data: bytes) -> tuple[int, tuple[int, ...]]:
    """unitsPerEm and the advance widths of the characters 32..126."""
    font = TTFont(io.BytesIO(data))
    cmap = font.getBestCmap()
    hmtx = font["hmtx"].metrics
    return font["head"].unitsPerEm, tuple(hmtx[cmap[c]][0] for c in range(32, 127))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("croscore", type=Path, help="folder holding Arimo-*.ttf, Tinos-*.ttf")
    args = parser.parse_args(argv)
    lines = [
        '"""Advance widths of the shipped fonts (written by ``python -m drawnet.fonts._make``).',
        "",
        "``WIDTHS[face]`` holds the widths of the characters 32..126 in font units;",
        "``UNITS_PER_EM`` units make one em.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    upms = set()
    table = []
    for face in FACES:
        data = strip_hinting(args.croscore / f"{face}.ttf")
        (HERE / f"{face}.ttf").write_bytes(data)
        upm, widths = ascii_widths(data)
        upms.add(upm)
        rows = [", ".join(str(w) for w in widths[i:i + 12]) for i in range(0, len(widths), 12)]
        table.append(f'    "{face}": (\n' + "".join(f"        {r},\n" for r in rows) + "    ),")
        print(f"{face}.ttf: {len(data)} bytes")
    (upm,) = upms
    lines.append(f"UNITS_PER_EM = {upm}")
    lines.append("WIDTHS: dict[str, tuple[int, ...]] = {")
    lines.extend(table)
    lines.append("}")
    (HERE / "_metrics.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
