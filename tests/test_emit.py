"""DOT emission: escaping of hostile names, determinism, themes, goldens."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pydot
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drawnet import ir, render
from drawnet.emit import to_dot
from drawnet.emit.dot import dot_id
from drawnet.emit.labels import describe, escape_html, shape_text
from drawnet.errors import OptionError

T = ir.TensorMeta((1, 8))

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
) | st.sampled_from(['Evil<script>alert(1)</script>', 'a"b', "x&y", "{a|b}", "tab\there",
                     "new\nline", "back\\slash", "]]>", "é—漢字🙂", "-- comment --"])


def one_box(path: str, cls: str) -> ir.Graph:
    return ir.Graph(
        nodes=(ir.Node(id="input.x", kind="input", op="input", label="x", outputs=(T,)),
               ir.Node(id=path, kind="module", op=cls, module_path=path, class_name=cls,
                       outputs=(T,), scope=("outer",)),
               ir.Node(id="n2", kind="function", op="add", scope=("outer",), outputs=(T,)),
               ir.Node(id="output", kind="output", op="output", inputs=(T,))),
        edges=(ir.Edge("input.x", path, T), ir.Edge(path, "n2", T), ir.Edge("n2", "output", T)),
        calls=(ir.Call("outer", "outer", cls),),
    )


def visible_text(svg: bytes) -> str:
    root = ET.fromstring(svg)
    return "".join(t for el in root.iter() if el.tag.endswith("text") for t in (el.text,) if t)


@given(path=names, cls=names)
@settings(max_examples=60, deadline=None)
def test_hostile_names_give_parseable_dot(path: str, cls: str) -> None:
    src = to_dot(one_box(path, cls))
    graphs = pydot.graph_from_dot_data(src)
    assert graphs, "pydot could not parse the DOT"
    ids = {n.get_name() for n in graphs[0].get_nodes()} | {
        n.get_name() for sg in graphs[0].get_subgraphs() for n in sg.get_nodes()}
    assert dot_id(path) in ids


@given(path=names, cls=names)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_names_render_to_wellformed_svg_as_text(path: str, cls: str) -> None:
    svg = render.render(to_dot(one_box(path, cls)), "svg")
    text = visible_text(svg)  # raises if the SVG is not well-formed XML
    shown = escape_html(path)  # what Graphviz gets; it shows the unescaped characters
    plain = "".join(ch for ch in path if ch.isprintable() and ch not in "\t\n\r")
    if len(plain) <= 20 and plain.strip() and plain == path:
        assert plain.replace(" ", "") in text.replace(" ", "").replace("\xa0", ""), (shown, text)
    assert b"<script" not in svg


def test_script_class_name_is_text_not_markup() -> None:
    svg = render.render(to_dot(one_box("evil", "Evil<script>alert(1)</script>")), "svg")
    assert b"<script" not in svg
    assert "Evil<script>alert(1)</script>" in visible_text(svg)


def test_dot_ids_are_injective() -> None:
    samples = ["a b", "a%20b", "a_b", "a:b", 'a"b', "a%22b", "a\\b"]
    assert len({dot_id(s) for s in samples}) == len(samples)


def test_escape_html_never_leaves_markup() -> None:
    out = escape_html('<B>x</B> & "y"\n\x00\x07z')
    assert "<B>" not in out
    assert "\x00" not in out
    assert "\x07" not in out
    assert out.count("<BR") == 1


def test_labels() -> None:
    assert shape_text((1, 3, 224, 224)) == "1×3×224×224"
    assert describe("Conv2d", {"kernel_size": (7, 7), "stride": (2, 2), "in_channels": 3,
                               "out_channels": 64, "groups": 1}) == "7×7 /2, 3→64"
    assert describe("Conv2d", {"kernel_size": (3, 3), "stride": (1, 1), "in_channels": 32,
                               "out_channels": 32, "groups": 32}) == "3×3, 32→32, depthwise"
    assert describe("Linear", {"in_features": 512, "out_features": 1000}) == "512→1000"
    assert describe("LSTM", {"input_size": 100, "hidden_size": 200, "num_layers": 2,
                             "bidirectional": False}) == "100→200 ×2 layers"


def test_orientation_and_theme_choices() -> None:
    g = one_box("fc", "Linear")
    assert 'rankdir="TB"' in to_dot(g, orientation="TB")
    with pytest.raises(OptionError, match="unknown orientation"):
        to_dot(g, orientation="RL")
    with pytest.raises(ValueError, match="unknown theme: 'neon'"):
        to_dot(g, theme="neon")
    assert to_dot(g, theme="print") != to_dot(g)
    assert 'fontname="Tinos"' in to_dot(g, theme="print")


def test_attributes_are_sorted() -> None:
    for line in to_dot(one_box("fc", "Linear")).splitlines():
        if "[" in line and "label=<" not in line:
            keys = [kv.split("=")[0] for kv in line.split("[", 1)[1].rstrip("];").split(", ")]
            assert keys == sorted(keys), line
