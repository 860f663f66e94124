"""Hardening: clear errors, the model and torch left untouched, escaping, atomic saves, stress.

Each test names the behaviour it guards; a test that fails because a file owned by
someone else needs a change says so in its assertion message.
"""

from __future__ import annotations

import gc
import os
import re
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydot
import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import drawnet
from drawnet import render
from drawnet.emit.dot import dot_id
from drawnet.emit.labels import MAX_LABEL, shorten
from drawnet.errors import (
    DrawnetError,
    InputError,
    ModelTypeError,
    OptionError,
    OutputError,
    RenderError,
    TraceError,
    expected_input,
)
from drawnet.notebook import Diagram
from tests.fingerprint import assert_same, fingerprint
from tests.models import TinyResNet

# --------------------------------------------------------------------------- helpers


def one_line(e: BaseException) -> str:
    """The message, checked to be a single line."""
    text = str(e)
    assert text.strip(), f"{type(e).__name__} has an empty message"
    assert "\n" not in text.strip(), f"message is not one line: {text!r}"
    return text


def causes(e: BaseException) -> Iterator[BaseException]:
    """``e`` and every exception it was raised from."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__


def svg_texts(svg: bytes) -> list[str]:
    """The text of every ``<text>`` element; parsing fails if the SVG is not well-formed."""
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter() if el.tag.endswith("}text")]


def squash(text: str) -> str:
    """Text without whitespace or unprintable characters, for comparing shown labels."""
    return "".join(ch for ch in text if ch.isprintable() and not ch.isspace())


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def shown_lines(name: str, *, short: bool = True) -> list[str]:
    """The lines a label shows for ``name``: shortened (box labels, not the title), tabs
    as spaces, characters XML forbids as U+FFFD (see ``escape_html``)."""
    text = shorten(name) if short else name
    text = _FORBIDDEN.sub("\ufffd", text).replace("\t", " ").replace("\r", " ")
    return [line for line in text.split("\n") if squash(line)]


def assert_inert(svg: str | bytes) -> None:
    """Nothing in an SVG that a browser or notebook would run, follow or show as HTML:
    no script, foreignObject or iframe element, no on* handler, no link."""
    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    assert b"<script" not in data.lower()
    for el in ET.fromstring(data).iter():
        tag = el.tag.rsplit("}", 1)[-1].lower()
        assert tag not in ("script", "foreignobject", "iframe", "a", "use"), f"<{tag}> in SVG"
        for attr in el.attrib:
            name = attr.rsplit("}", 1)[-1].lower()
            assert not name.startswith("on"), f"event handler {attr} in SVG"
            assert name != "href", f"link {attr}={el.attrib[attr]!r} in SVG"


def dot_node_names(src: str) -> set[str]:
    """Every node id in DOT text, parsed by pydot (fails if pydot cannot parse it)."""
    graphs = pydot.graph_from_dot_data(src)
    assert graphs, "pydot could not parse the DOT"
    names: set[str] = set()

    def walk(g: Any) -> None:
        names.update(n.get_name() for n in g.get_nodes())
        for sg in g.get_subgraphs():
            walk(sg)

    walk(graphs[0])
    return names


# Torch state a drawing tool could disturb process-wide (calflops leaves F.* patched).
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks", "_global_forward_hooks_always_called",
                 "_global_module_registration_hooks", "_global_parameter_registration_hooks",
                 "_global_buffer_registration_hooks")
_PATCHABLE_NAMESPACES: tuple[tuple[str, Any], ...] = (
    ("torch", torch), ("torch.nn.functional", torch.nn.functional),
    ("torch.Tensor", torch.Tensor), ("torch.nn.Module", torch.nn.Module),
    ("torch._C.TensorBase", torch._C.TensorBase),
)


def _namespace(obj: Any) -> dict[str, Any]:
    return dict(vars(obj))


def global_state() -> dict[str, Any]:
    """Process-wide torch state: modes, flags, global hooks, RNG, and every function."""
    from torch.nn.modules import module as module_mod
    from torch.overrides import _get_current_function_mode_stack

    return {
        "default_dtype": torch.get_default_dtype(),
        "default_device": str(torch.get_default_device()),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "grad_enabled": torch.is_grad_enabled(),
        "inference_mode": torch.is_inference_mode_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "num_threads": torch.get_num_threads(),
        "jit_tracing": torch.jit.is_tracing(),
        "function_modes": len(_get_current_function_mode_stack()),
        "global_hooks": tuple(len(getattr(module_mod, n, {}) or {}) for n in _GLOBAL_HOOKS),
        "rng": torch.get_rng_state(),
        "warning_filters": list(warnings.filters),
        "namespaces": {name: _namespace(ns) for name, ns in _PATCHABLE_NAMESPACES},
    }


def assert_same_globals(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Fail naming the first piece of global torch state that changed."""
    for key, value in before.items():
        if key == "rng":
            assert torch.equal(value, after[key]), (
                "the global RNG state changed: a real run that draws random numbers (Dropout "
                "in train mode) must run under torch.random.fork_rng(devices=[]) in "
                "drawnet/trace (see report)")
        elif key == "namespaces":
            for ns, members in value.items():
                now = after[key][ns]
                changed = [k for k, v in members.items() if now.get(k, v) is not v]
                assert not changed, f"{ns} was patched: {changed[:5]}"
        else:
            assert value == after[key], f"global torch state {key!r} changed"


# --------------------------------------------------------------------------- 1. errors


def test_wrong_input_shape_names_layer_got_and_expected() -> None:
    """resnet18 given a 3-D input: the error names conv1, what it got and what it wants."""
    with pytest.raises(TraceError) as info:
        drawnet.draw_model(torchvision.models.resnet18(), [1, 3, 224])
    e = info.value
    assert isinstance(e, RuntimeError)
    assert isinstance(e, DrawnetError)
    msg = one_line(e)
    assert "conv1 · Conv2d" in msg
    assert "1×3×224" in msg
    assert "N×3×H×W" in msg, (
        "the message should say what conv1 expects (errors.expected_input -> "
        f"'expects N×3×H×W or 3×H×W'); needs the change in drawnet/trace (see report): {msg}"
    )


def test_wrong_features_name_the_linear_layer() -> None:
    net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(TraceError) as info:
        drawnet.draw_model(net, [1, 5])
    msg = one_line(info.value)
    assert "0 · Linear" in msg
    assert "1×5" in msg
    assert "…×8" in msg, f"the message should say Linear expects …×8; needs drawnet/trace: {msg}"


@pytest.mark.parametrize(
    ("class_name", "attrs", "expected"),
    [
        ("Conv2d", {"in_channels": 3}, "expects N×3×H×W or 3×H×W"),
        ("Conv1d", {"in_channels": 16}, "expects N×16×L or 16×L"),
        ("ConvTranspose3d", {"in_channels": 4}, "expects N×4×D×H×W or 4×D×H×W"),
        ("BatchNorm2d", {"num_features": 64}, "expects N×64×H×W"),
        ("BatchNorm1d", {"num_features": 8}, "expects N×8 or N×8×L"),
        ("MaxPool2d", {}, "expects N×C×H×W or C×H×W"),
        ("Linear", {"in_features": 512}, "expects …×512 (last dimension 512)"),
        ("LayerNorm", {"normalized_shape": (768,)}, "expects …×768 (last dimensions 768)"),
        ("Embedding", {"num_embeddings": 100}, "expects integer indices (dtype long) below 100"),
        ("GRU", {"input_size": 8}, "expects L×N×8 or L×8"),
        ("Bottleneck", {}, ""),
    ],
)
def test_expected_input_hints(class_name: str, attrs: dict[str, Any], expected: str) -> None:
    assert expected_input(class_name, attrs) == expected


@pytest.mark.parametrize(
    "bad",
    [nn.Linear, torchvision.models.resnet18, 3, "resnet18", None, [nn.Linear(2, 2)]],
    ids=["class", "factory", "int", "str", "None", "list"],
)
def test_not_a_module_is_a_type_error(bad: Any) -> None:
    with pytest.raises(ModelTypeError) as info:
        drawnet.draw_model(bad, [1, 4])
    assert isinstance(info.value, TypeError)
    msg = one_line(info.value)
    if isinstance(bad, type):
        assert "pass an instance" in msg
    else:
        assert type(bad).__name__ in msg


@pytest.mark.parametrize(
    ("kwargs", "listed"),
    [
        ({"orientation": "XY"}, ("'LR'", "'TB'")),
        ({"theme": "neon"}, ("'default'", "'print'")),
        ({"dtypes": "complex"}, ("'float32'", "'int64'")),
        ({"tracer": "onnx"}, ("'auto'", "'meta'", "'eager'", "'jit'")),
        ({"mode": "test"}, ("'eval'", "'train'", "'same'")),
        ({"engine": "neato"}, ("'auto'", "'system'", "'pure'")),
        ({"color_by": "size"}, ("'family'", "'macs'")),
        ({"depth": 0}, ("positive whole number", "'auto'", "None")),
        ({"depth": "deep"}, ("positive whole number", "'auto'", "None")),
    ],
)
def test_bad_options_are_value_errors_listing_choices(
    kwargs: dict[str, Any], listed: tuple[str, ...]
) -> None:
    with pytest.raises(OptionError) as info:
        drawnet.draw_model(TinyResNet(), [1, 3, 32, 32], **kwargs)
    assert isinstance(info.value, ValueError)
    msg = one_line(info.value)
    for choice in listed:
        assert choice in msg, (choice, msg)


@pytest.mark.parametrize("fmt", ["gif", "jpeg", ""])
def test_bad_format_lists_choices(fmt: str, tmp_path: Path) -> None:
    d = drawnet.draw_model(nn.Linear(4, 2), [1, 4])
    with pytest.raises(OptionError) as info:
        d.pipe(fmt)
    for choice in ("'svg'", "'png'", "'pdf'", "'dot'"):
        assert choice in one_line(info.value)
    with pytest.raises(ValueError, match="format"):
        d.save(tmp_path / f"x.{fmt}" if fmt else tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("size", "fragment"),
    [
        ([1, 3, 0, 32], "dimension 0"),
        ([1, 3, -4, 32], "dimension -4"),
        ([], "empty"),
        ([[1, 3, 32, 32], []], "empty"),
        ([1, 3, 32.5, 32], "32.5"),
        ("1,3,32,32", "shape"),
        (7, "shape"),
    ],
)
def test_bad_sizes_are_input_errors(size: Any, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        drawnet.draw_model(TinyResNet(), size)
    assert isinstance(info.value, ValueError)
    assert fragment in one_line(info.value)


@pytest.mark.parametrize("tracer", ["auto", "meta", "eager"])
def test_input_on_another_device_is_an_input_error(tracer: str) -> None:
    model = nn.Linear(4, 2)  # on the CPU
    with pytest.raises(InputError) as info:
        drawnet.draw_model(model, input_data=torch.zeros(1, 4, device="meta"), tracer=tracer)
    msg = one_line(info.value)
    assert "meta" in msg, msg
    assert "cpu" in msg, msg
    assert ".to(" in msg, f"needs the device check in drawnet/trace/inputs.py (see report): {msg}"


def test_cpu_inputs_for_a_meta_model_are_fine() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    d = drawnet.draw_model(model, input_data=torch.zeros(1, 4))
    assert d.tracer in ("meta", "export")


class _Broken(nn.Module):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


class _Outer(nn.Module):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.block = nn.Sequential(nn.ReLU(), _Broken(error))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.lin(x))


@pytest.mark.parametrize("tracer", ["auto", "meta", "export", "eager", "jit"])
def test_forward_error_is_chained_and_placed(tracer: str) -> None:
    boom = ValueError("my model is broken\nsecond line of the user's message")
    model = _Outer(boom)
    with pytest.raises(TraceError) as info:
        drawnet.draw_model(model, [1, 4], tracer=tracer)
    msg = one_line(info.value)
    assert "block.1" in msg
    assert "ValueError: my model is broken" in msg
    assert "second line" not in msg
    assert any(c is boom for c in causes(info.value)), "the user's exception is not chained"
    if tracer != "auto":
        assert info.value.__cause__ is boom


def test_forward_error_in_root_forward() -> None:
    class Root(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise KeyError("missing key")

    with pytest.raises(TraceError) as info:
        drawnet.draw_model(Root(), [1, 4])
    msg = one_line(info.value)
    assert "Root" in msg
    assert "KeyError" in msg


class _Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> Any:
        y = self.fc(x)
        return (t for t in (y, y))


class _Opaque(nn.Module):
    def __init__(self, value: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.value = value

    def forward(self, x: torch.Tensor) -> Any:
        return self.value(self.fc(x))


class Custom:
    """Not a tensor, container or dataclass."""

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t


_OPAQUE = {
    "generator": _Generator,
    "object": lambda: _Opaque(lambda y: object()),
    "Custom": lambda: _Opaque(Custom),
    "NoneType": lambda: _Opaque(lambda y: None),
    "str": lambda: _Opaque(lambda y: "done"),
}


@pytest.mark.parametrize("tracer", ["auto", "meta", "eager"])
@pytest.mark.parametrize("kind", list(_OPAQUE))
def test_undrawable_output_is_an_opaque_node(kind: str, tracer: str) -> None:
    d = drawnet.draw_model(_OPAQUE[kind](), [1, 4], tracer=tracer)
    outputs = [n for n in d.graph.nodes if n.kind == "output"]
    assert len(outputs) == 1
    assert kind in (outputs[0].label or ""), outputs[0]
    assert any(kind in t for t in svg_texts(d.pipe("svg")))


@pytest.mark.parametrize("tracer", ["export", "jit"])
@pytest.mark.parametrize("kind", ["generator", "object"])
def test_undrawable_output_never_crashes(kind: str, tracer: str) -> None:
    try:
        d = drawnet.draw_model(_OPAQUE[kind](), [1, 4], tracer=tracer)
    except DrawnetError as e:  # a tracer that cannot follow it says so in one line
        one_line(e)
    else:
        assert [n for n in d.graph.nodes if n.kind == "output"]


def test_exported_module_draws_with_the_default_mode() -> None:
    """``torch.export``'s module refuses ``train()``; drawing must not crash on it."""
    program = torch.export.export(TinyResNet().eval(), (torch.zeros(1, 3, 32, 32),))
    module = program.module()
    try:
        d = drawnet.draw_model(module, [1, 3, 32, 32])
    except NotImplementedError as e:
        pytest.fail(f"raw {type(e).__name__} from model.train(): drawnet/trace/common.py "
                    "guarded() should leave a torch.export module in its exported mode "
                    f"(see report): {e}")
    assert svg_texts(d.pipe("svg"))


@pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:FutureWarning")
def test_script_module_is_drawn_or_refused_in_one_line() -> None:
    """A ScriptModule cannot take hooks; at the least the user gets a DrawnetError."""
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    try:
        d = drawnet.draw_model(scripted, [1, 4])
    except DrawnetError as e:
        one_line(e)
    except Exception as e:
        pytest.fail(f"raw {type(e).__name__} drawing a ScriptModule; drawnet/trace should "
                    f"draw it from its graph or raise a TraceError (see report): {e}")
    else:
        assert svg_texts(d.pipe("svg"))


# --------------------------------------------------------------------------- 2. untouched


class Fragile(nn.Module):
    """Conv, BN and Dropout with user hooks, a frozen conv and mixed train flags."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
        self.fail_from_call: int | None = None
        self.calls = [0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls[0] += 1
        if self.fail_from_call is not None and self.calls[0] >= self.fail_from_call:
            raise RuntimeError(f"call {self.calls[0]} fails")
        return self.head(self.drop(torch.relu(self.bn(self.conv(x)))))


def fragile() -> Fragile:
    model = Fragile()
    model.train()
    model.head.eval()
    model.conv.weight.requires_grad_(False)
    model.conv.register_forward_pre_hook(lambda m, a: None)
    model.bn.register_forward_hook(lambda m, a, o: None)
    model.head.register_full_backward_hook(lambda m, gi, go: None)
    with torch.no_grad():
        model.bn.running_mean.add_(0.5)
    return model


def _draw_then_fail_render(model: Fragile, tmp: Path) -> None:
    d = drawnet.draw_model(model, [2, 3, 8, 8])
    try:
        Diagram(d.graph, "digraph { a -> ", engine="pure").save(tmp / "x.svg")
    except RenderError as e:
        _kept_dot(str(e)).unlink()
        raise


def _fails_on_second_call(model: Fragile, tmp: Path) -> None:
    drawnet.draw_model(model, [2, 3, 8, 8], tracer="eager")
    assert model.calls == [0]  # the forward counted on a stand-in copy, not on the model
    model.fail_from_call = 1
    try:
        drawnet.draw_model(model, [2, 3, 8, 8])
    finally:
        model.fail_from_call = None  # the test's own change, undone before comparing


def _raising_hook(module: nn.Module, args: Any, output: Any) -> None:
    raise ZeroDivisionError("the user's hook fails")


# (run, fails): fails is None where a tracer may refuse the model (jit refuses modules
# with backward hooks) as long as it does so with a DrawnetError.
_SCENARIOS: dict[str, tuple[Callable[[Fragile, Path], Any], bool | None]] = {
    "auto": (lambda m, t: drawnet.draw_model(m, [2, 3, 8, 8]), False),
    "meta": (lambda m, t: drawnet.draw_model(m, [2, 3, 8, 8], tracer="meta"), False),
    "export": (lambda m, t: drawnet.draw_model(m, [2, 3, 8, 8], tracer="export"), False),
    "eager-train": (lambda m, t: drawnet.draw_model(m, [2, 3, 8, 8], tracer="eager",
                                                    mode="train"), False),
    "jit-same": (lambda m, t: drawnet.draw_model(m, [2, 3, 8, 8], tracer="jit",
                                                 mode="same"), None),
    "summary": (lambda m, t: drawnet.summary(m, [2, 3, 8, 8], mode="train"), False),
    "wrong-shape": (lambda m, t: drawnet.draw_model(m, [2, 3, 5]), True),
    "fails-on-second-call": (_fails_on_second_call, True),
    "error-in-user-hook": (lambda m, t: drawnet.draw_model(m, [2, 3, 8, 8]), True),
    "render-fails": (_draw_then_fail_render, True),
}


@pytest.mark.parametrize("scenario", list(_SCENARIOS))
def test_model_and_torch_left_as_they_were(scenario: str, tmp_path: Path) -> None:
    model = fragile()
    if scenario == "error-in-user-hook":
        model.bn.register_forward_hook(_raising_hook)
    before, globals_before = fingerprint(model), global_state()
    run, fails = _SCENARIOS[scenario]
    if fails:
        with pytest.raises(DrawnetError):
            run(model, tmp_path)
    elif fails is None:
        try:
            run(model, tmp_path)
        except DrawnetError as e:
            one_line(e)
    else:
        run(model, tmp_path)
    assert_same(before, fingerprint(model))
    assert_same_globals(globals_before, global_state())
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("where", ["recorder", "passes", "emit"])
def test_failure_inside_drawnet_leaves_everything(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside drawnet (injected) mid-trace or after it still restores everything."""
    import drawnet.api
    import drawnet.stats

    class Injected(Exception):
        pass

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise Injected(where)

    target = {"recorder": (drawnet.stats, "op_cost"), "passes": (drawnet.api, "layer_graph"),
              "emit": (drawnet.api, "to_dot")}[where]
    model = fragile()
    before, globals_before = fingerprint(model), global_state()
    monkeypatch.setattr(*target, boom)
    for tracer in ("meta", "eager", "export", "jit"):
        with pytest.raises((Injected, DrawnetError)):
            drawnet.draw_model(model, [2, 3, 8, 8], tracer=tracer)
        assert_same(before, fingerprint(model))
        assert_same_globals(globals_before, global_state())


def test_user_settings_are_kept() -> None:
    """drawnet neither resets nor keeps its own: default dtype, determinism, grad mode."""
    model = TinyResNet()
    old_dtype = torch.get_default_dtype()
    old_det = (torch.are_deterministic_algorithms_enabled(),
               torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.set_default_dtype(torch.float64)
        torch.use_deterministic_algorithms(True, warn_only=True)
        with torch.no_grad():
            before = global_state()
            drawnet.draw_model(model, [1, 3, 32, 32], dtypes="float32")
            with pytest.raises(TraceError):
                drawnet.draw_model(model, [1, 3, 32])
            assert_same_globals(before, global_state())
            assert not torch.is_grad_enabled()
        assert torch.get_default_dtype() is torch.float64
    finally:
        torch.set_default_dtype(old_dtype)
        torch.use_deterministic_algorithms(old_det[0], warn_only=old_det[1])


def test_meta_model_stays_on_meta_and_cpu_model_on_cpu() -> None:
    """torchview moves the model to meta in place; drawnet never moves anything."""
    with torch.device("meta"):
        big = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    small = TinyResNet()
    tensors_big = [(n, t, t.device, t.shape) for n, t in big.state_dict(keep_vars=True).items()]
    before_small = fingerprint(small)
    drawnet.draw_model(big, [1, 64])
    drawnet.draw_model(small, [1, 3, 32, 32], tracer="eager")
    drawnet.draw_model(small, [1, 3, 32, 32], tracer="meta")
    after_big = big.state_dict(keep_vars=True)
    for name, t, device, shape in tensors_big:
        assert after_big[name] is t, f"{name} was replaced"
        assert (t.device, t.shape) == (device, shape)
    assert_same(before_small, fingerprint(small))


# --------------------------------------------------------------------------- 3. escaping


def _hostile_model(name: str, cls: str, key: str) -> nn.Module:
    leaf_class = type(cls, (nn.Module,), {"forward": lambda self, x: x * 2})

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module(name, leaf_class())
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {key: self.relu(getattr(self, name)(x)), "other": x}

    return Holder()


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
_specials = st.sampled_from([
    'we"ird<name>', "Evil<script>alert(1)</script>", "a&b;&amp;", "{x|y}[z]\\",
    "new\nline", "tab\there", "é—漢字🙂", "]]>", "<!-- c -->", "\x08\x1f", "  ", "%41%",
    "<B>bold</B>", "\u202eevil", "x" * 200,
])
_names = (_text | _specials).filter(
    lambda s: "." not in s and not hasattr(nn.Module(), s) and s not in ("relu", "other"))
_classes = (_text | _specials).filter(lambda s: "\x00" not in s)


@given(name=_names, cls=_classes, key=_text | _specials, title=_text | _specials)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_hostile_names_through_draw_model(name: str, cls: str, key: str, title: str) -> None:
    """Module, class, output and title strings: parseable DOT, well-formed SVG showing
    them as text, and nothing executable in the notebook output."""
    from drawnet.trace.common import id_part

    d = drawnet.draw_model(_hostile_model(name, cls, key), [1, 4], title=title)
    # the node id is the module path, with drawnet's id characters (:@#%) escaped
    assert dot_id(id_part(name)) in dot_node_names(d.source)
    svg = d.pipe("svg")
    shown = squash("".join(svg_texts(svg)))
    for text, short in ((name, True), (cls, True), (title, False)):
        for line in shown_lines(text, short=short):
            assert squash(line) in shown, (line, shown)
    assert_inert(svg)
    bundle = d._repr_mimebundle_()
    assert set(bundle) <= {"image/svg+xml", "text/plain"}
    assert_inert(bundle["image/svg+xml"])


def test_script_class_renders_as_text() -> None:
    evil = "Evil<script>alert(1)</script>"
    d = drawnet.draw_model(_hostile_model('a"b<i>', evil, "<img src=x onerror=alert(1)>"),
                           [1, 4], title="</svg><script>alert(2)</script>")
    assert "<script" not in d.source
    svg = d.pipe("svg")
    texts = svg_texts(svg)
    assert evil in texts
    assert 'a"b<i>' in texts
    assert "</svg><script>alert(2)</script>" in texts
    assert_inert(svg)
    assert_inert(d._repr_mimebundle_()["image/svg+xml"])


def test_ten_thousand_character_strings() -> None:
    """Names are shortened with a middle ellipsis; the title is kept; nothing breaks."""
    name, cls = "n" * 5000 + "m" * 5000, "C" * 9999 + "D"
    title = "T" * 10_000
    d = drawnet.draw_model(_hostile_model(name, cls, "k" * 10_000), [1, 4], title=title)
    assert dot_id(name) in dot_node_names(d.source)
    svg = d.pipe("svg")
    texts = svg_texts(svg)
    assert shorten(name) in texts
    assert shorten(cls) in texts
    assert "…" in shorten(name)
    assert len(shorten(name)) == MAX_LABEL
    assert all(len(t) <= MAX_LABEL + len("output: ") for t in texts if t != title)
    assert name not in "".join(texts)
    assert_inert(svg)


@pytest.mark.parametrize("title", ["\x08", "\x00\x01", "\r", " ", "\ufffe"])
def test_titles_that_escape_to_nothing_still_render(title: str) -> None:
    d = drawnet.draw_model(nn.Linear(4, 2), [1, 4], title=title)
    dot_node_names(d.source)
    svg_texts(d.pipe("svg"))


def test_lone_surrogate_in_a_module_name() -> None:
    model = nn.Sequential()
    model.add_module("a\ud800b", nn.Linear(4, 4))
    try:
        d = drawnet.draw_model(model, [1, 4])
    except UnicodeEncodeError as e:
        pytest.fail(f"dot_id cannot encode a lone surrogate; needs drawnet/emit/dot.py "
                    f"dot_id to use ch.encode('utf-8', 'surrogatepass') (see report): {e}")
    assert "a\ufffdb" in svg_texts(d.pipe("svg"))


def test_failed_render_in_a_notebook_is_plain_text_only() -> None:
    d = drawnet.draw_model(_hostile_model("<b>x</b>", "Evil<script>", "k"), [1, 4])
    broken = Diagram(d.graph, d.source.replace("digraph drawnet {", "digraph {{", 1),
                     engine="pure")
    bundle = broken._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}


# --------------------------------------------------------------------------- 5. rendering


def _big_dot() -> str:
    lines = [f"n{i} -> n{i + 1}; n{i} -> n{(i * 7) % 400};" for i in range(400)]
    return "digraph {" + "\n".join(lines) + "}"


def _kept_dot(message: str) -> Path:
    found = re.search(r"(?:kept in|written to) (\S+\.gv)", message)
    assert found, f"the error does not say where the DOT was kept: {message}"
    return Path(found[1])


@pytest.fixture
def graph() -> Any:
    return drawnet.draw_model(nn.Linear(4, 2), [1, 4]).graph


def test_engine_error_keeps_dot_and_old_file(tmp_path: Path, graph: Any) -> None:
    out = tmp_path / "model.svg"
    out.write_text("old picture")
    source = "digraph { a -> "
    with pytest.raises(RenderError) as info:
        Diagram(graph, source, engine="pure").save(out)
    kept = _kept_dot(one_line(info.value))
    try:
        assert kept.read_text(encoding="utf-8") == source
    finally:
        kept.unlink()
    assert out.read_text() == "old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.svg"]


@pytest.mark.parametrize("engine", ["pure", "auto"])
def test_layout_time_limit_keeps_dot(tmp_path: Path, graph: Any, engine: str) -> None:
    big = _big_dot()
    Diagram(graph, "digraph { warm -> up }", engine=engine).pipe("svg")
    with pytest.raises(RenderError, match="timed out") as info:
        Diagram(graph, big, engine=engine).save(tmp_path / "big.svg", timeout=0.001)
    kept = _kept_dot(one_line(info.value))
    try:
        assert kept.read_text(encoding="utf-8") == big
    finally:
        kept.unlink()
    assert list(tmp_path.iterdir()) == []


def test_write_failure_leaves_old_file(
    tmp_path: Path, graph: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model.svg"
    out.write_text("old picture")
    d = Diagram(graph, "digraph { a -> b }")

    def no_space(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OutputError) as info:
        d.save(out)
    assert isinstance(info.value, OSError)
    assert "No space left" in one_line(info.value)
    assert out.read_text() == "old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.svg"]


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda t: t / "missing" / "x.svg", "does not exist"),
        (lambda t: (t / "file").write_text("") or t / "file" / "x.svg", "is not a folder"),
        (lambda t: (t / "dir.svg").mkdir() or t / "dir.svg", "is a folder"),
    ],
    ids=["missing-folder", "file-in-the-way", "target-is-a-folder"],
)
def test_bad_targets_fail_before_rendering(
    tmp_path: Path, graph: Any, monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path], Path], fragment: str,
) -> None:
    target = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    def never(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("rendered before checking the target")

    monkeypatch.setattr(render, "render", never)
    with pytest.raises(OutputError) as info:
        Diagram(graph, "digraph { a -> b }").save(target)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, DrawnetError)
    assert fragment in one_line(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_saved_files_get_ordinary_permissions(tmp_path: Path, graph: Any) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    out = Diagram(graph, "digraph { a -> b }").save(tmp_path / "x.dot")
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


# --------------------------------------------------------------------------- 6. stress


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tracer_objects() -> dict[str, int]:
    """How many live objects of each class defined in drawnet.trace (recorders, modes)."""
    counts: dict[str, int] = {}
    for o in gc.get_objects():
        module = getattr(type(o), "__module__", "")
        if isinstance(module, str) and module.startswith("drawnet.trace"):
            name = f"{module}.{type(o).__qualname__}"
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_two_hundred_draws_keep_memory_flat() -> None:
    model = TinyResNet()
    drawnet.draw_model(model, [1, 3, 32, 32])  # imports and caches settle first
    gc.collect()
    tracer_objects_before = _tracer_objects()
    before, globals_before = fingerprint(model), global_state()
    samples: dict[int, tuple[int, int, int]] = {}
    for i in range(1, 201):
        d = drawnet.draw_model(model, [1, 3, 32, 32])
        if i % 20 == 0:
            d.pipe("svg")
        if i in (50, 200):
            del d
            gc.collect()
            samples[i] = (_rss_kb(), _open_fds(), threading.active_count())
    grown_kb = samples[200][0] - samples[50][0]
    print(f"RSS after 50 draws {samples[50][0]} kB, after 200 {samples[200][0]} kB "
          f"(+{grown_kb} kB); fds {samples[50][1]} -> {samples[200][1]}")
    assert grown_kb < 24 * 1024, f"RSS grew by {grown_kb} kB over 150 draws"
    assert samples[200][1] <= samples[50][1], "file descriptors leak"
    assert samples[200][2] <= samples[50][2], "threads leak"
    assert_same(before, fingerprint(model))
    assert_same_globals(globals_before, global_state())
    grown = {k: v - tracer_objects_before.get(k, 0) for k, v in _tracer_objects().items()
             if v > tracer_objects_before.get(k, 0)}
    assert not grown, f"tracer objects left alive by the draws: {grown}"


def test_two_threads_draw_different_models() -> None:
    models = {"resnet18": torchvision.models.resnet18(), "alexnet": torchvision.models.alexnet()}
    expected = {k: drawnet.draw_model(m, [1, 3, 224, 224]).source for k, m in models.items()}
    got: dict[str, list[str]] = {k: [] for k in models}
    errors: list[BaseException] = []
    start = threading.Barrier(len(models))

    def work(key: str) -> None:
        try:
            start.wait()
            for _ in range(5):
                got[key].append(drawnet.draw_model(models[key], [1, 3, 224, 224]).source)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for key in models:
        assert len(got[key]) == 5
        assert all(src == expected[key] for src in got[key]), f"{key} drawn differently"
    from torch.overrides import _get_current_function_mode_stack

    assert not _get_current_function_mode_stack()
