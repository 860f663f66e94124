"""The interactive view: one self-contained HTML page (or notebook output) per model.

The page holds the JSON document of :mod:`drawnet.emit.json`, Graphviz compiled to
WebAssembly (``@hpcc-js/wasm-graphviz``, vendored under ``assets/graphviz`` with its
license) and drawnet's own small script and stylesheet (``assets/explorer.js``,
``assets/explorer.css``). It makes no network request: everything is inline, and the page
declares a Content-Security-Policy that forbids fetching anything.

In the page, every module frame opens and closes with a click, ×N blocks show any copy,
search finds modules by path or class, a click on a box shows its numbers, the picture
pans, zooms, recolours and exports as SVG or PNG. The first picture is the static
diagram's: the view lays the same DOT out with the same Graphviz version, row by row.

Example:
    >>> from drawnet import ir
    >>> from drawnet.emit.json import to_json
    >>> g = ir.Graph(nodes=(ir.Node(id="input.x", kind="input", op="input"),))
    >>> page = to_html(to_json(g, g, g), title="Net")
    >>> page.startswith("<!DOCTYPE html>"), "connect-src 'none'" in page
    (True, True)
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
from importlib import resources

from drawnet.errors import DrawnetError, OutputError

__all__ = ["ENGINE_VERSION", "GRAPHVIZ_VERSION", "notebook_html", "to_html"]

ENGINE_VERSION = "1.29.2"
"""Version of the vendored ``@hpcc-js/wasm-graphviz`` npm package."""
GRAPHVIZ_VERSION = "16.1.0"
"""Graphviz version inside it (the same as the static renderers use)."""
ENGINE_SHA256 = "550d9cd6ff429f5bd225316fe1faed4f852038c3e1ec609ce113af1f9379ce25"

# What the page may do: run its own inline scripts and WebAssembly, use inline styles and
# data:/blob: images (PNG export). Nothing may be fetched, framed or posted.
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; "
       "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
       "form-action 'none'; base-uri 'none'")


def _asset(*parts: str) -> str:
    return resources.files("drawnet.emit").joinpath("assets", *parts).read_text("utf-8")


@functools.lru_cache(maxsize=1)
def engine_script() -> str:
    """The vendored Graphviz engine as a classic script defining ``__drawnetGraphvizLib``.

    The npm file is an ES module ending in ``export{a as Name,...}``; that statement
    becomes a ``return`` of the same names inside a function, so the code runs as a
    plain ``<script>`` (strict, as a module would be).
    """
    code = _asset("graphviz", "index.js")
    if hashlib.sha256(code.encode("utf-8")).hexdigest() != ENGINE_SHA256:
        raise OutputError("drawnet/emit/assets/graphviz/index.js does not match the vendored "
                          "@hpcc-js/wasm-graphviz " + ENGINE_VERSION + "; reinstall drawnet")
    code = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", code)
    match = re.search(r"export\s*\{([^}]*)\};?\s*$", code)
    if match is None:
        raise OutputError("cannot find the export list of the vendored Graphviz engine")
    pairs = []
    for item in match.group(1).split(","):
        local, _, exported = item.strip().partition(" as ")
        pairs.append(f"{(exported or local).strip()}:{local.strip()}")
    body = code[:match.start()] + "return {" + ",".join(pairs) + "};"
    return ("window.__drawnetGraphvizLib=window.__drawnetGraphvizLib||(function(){"
            '"use strict";\n' + body + "\n})();\n")


def _script_safe(text: str, what: str) -> str:
    """Text that can sit inside ``<script>`` without ending it early."""
    if re.search(r"</script|<!--|<script", text, re.IGNORECASE):
        raise OutputError(f"the {what} contains a sequence that would end its <script>")
    return text


def _json_safe(text: str) -> str:
    """JSON text made safe inside ``<script type="application/json">``."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def container_id(doc_json: str) -> str:
    """A stable element id for one document: ``drawnet-`` and 12 hex digits of its hash.

    Example:
        >>> container_id('{"a":1}')
        'drawnet-015abd7f5cc5'
    """
    return "drawnet-" + hashlib.sha256(doc_json.encode("utf-8")).hexdigest()[:12]


def font_css(doc_json: str) -> tuple[str, str]:
    """``@font-face`` CSS for the diagram's font, subset to the document's characters, and
    the ``font-family`` list that names it first (``("", "")`` for a font drawnet does not
    ship). The page then draws text with the font whose widths Graphviz laid it out with.

    Example:
        >>> css, family = font_css('{"view": {"theme": {"fontname": "Arimo"}}, "x": "conv1"}')
        >>> css.count("@font-face"), family.split(",")[1]
        (2, 'Arimo')
    """
    from drawnet import fonts

    try:
        fontname = json.loads(doc_json)["view"]["theme"]["fontname"]
        faces = fonts.font_face_css(fontname, doc_json, doc_json)
    except (DrawnetError, KeyError, TypeError, ValueError):
        return "", ""
    return faces.css, faces.family


def _body(doc_json: str, cid: str, *, embedded: bool, fallback: str = "") -> str:
    face_css, family = font_css(doc_json)
    css = _asset("explorer.css")
    if family:
        css += f".drawnet-explorer .dn-svg text{{font-family:{family}}}\n"
    app = _script_safe(_asset("explorer.js"), "explorer script")
    engine = _script_safe(engine_script(), "Graphviz engine")
    cls = "drawnet-explorer " + ("dn-embedded" if embedded else "dn-page")
    opts = json.dumps({"embedded": embedded, "fontStyle": f"{cid}-fonts" if family else "",
                       "fontFamily": family}, separators=(",", ":")).replace("<", "\\u003c")
    note = ("The interactive view needs JavaScript; this is the static picture."
            if fallback else "Loading the interactive view…")
    inner = (f'<div class="dn-fallback">{fallback}</div>' if fallback else "") + (
        f'<p class="dn-note">{html.escape(note)}</p>')
    # The engine starts compiling before the document is parsed: the two overlap.
    mount = (
        "(function(){var el=document.getElementById(" + repr(cid).replace("'", '"') + ");"
        "if(!el||el.drawnet)return;"
        "if(!window.__drawnetGraphviz){window.__drawnetGraphviz="
        "window.__drawnetGraphvizLib.Graphviz.load();}var engine=window.__drawnetGraphviz;"
        "var doc=JSON.parse(document.getElementById(" + repr(cid + "-data").replace("'", '"')
        + ").textContent);"
        "window.drawnetExplorer.mount(el,doc,function(){return engine;}," + opts + ")"
        ".catch(function(e){if(window.console)console.error('drawnet explorer:',e);});})();"
    )
    return (
        f'<div id="{cid}" class="{cls}">{inner}</div>\n'
        f"<style>{css}</style>\n"
        + (f'<style id="{cid}-fonts">{face_css}</style>\n' if family else "")
        + f'<script type="application/json" id="{cid}-data">{_json_safe(doc_json)}</script>\n'
        f"<script>{engine}</script>\n"
        f"<script>{app}</script>\n"
        f"<script>{mount}</script>\n"
    )


def to_html(doc_json: str, *, title: str = "") -> str:
    """A complete, self-contained HTML page for one JSON document (see the module docstring).

    Byte-identical for the same document. ``title`` names the page.
    """
    cid = container_id(doc_json)
    name = html.escape(title or "model")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="drawnet, Graphviz {GRAPHVIZ_VERSION} '
        f'(@hpcc-js/wasm-graphviz {ENGINE_VERSION})">\n'
        f"<title>{name} · drawnet</title>\n"
        "<style>html,body{margin:0;height:100%;}</style>\n</head>\n<body>\n"
        + _body(doc_json, cid, embedded=False)
        + "<noscript><p>This page draws the model with JavaScript; open it in a browser "
          "with scripts allowed.</p></noscript>\n</body>\n</html>\n"
    )


def notebook_html(doc_json: str, fallback_svg: str, *, token: str) -> str:
    """The inline view for a notebook output: a container, its style and scripts.

    ``fallback_svg`` (the static picture) shows until the script runs, and stays where
    scripts cannot run. ``token`` makes the container id unique on the page (a notebook
    can show the same model twice). Works without require.js: plain inline scripts that
    find their container by id.
    """
    cid = container_id(doc_json) + "-" + re.sub(r"[^A-Za-z0-9]", "", token)[:16]
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", fallback_svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    return _body(doc_json, cid, embedded=True, fallback=svg)
