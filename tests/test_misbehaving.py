"""Models written to misbehave, and the promises drawnet keeps with them.

One regression test per finding of issue 11 (model side): aliased and tied weights,
forwards that write to ``self`` or to the caller's containers or to torch's settings,
Ctrl-C at any moment, impossible models, lazy and shared modules, nested inputs,
hostile module names, threads, counting gaps, and the partial diagram of a failed
trace. The README's "Reliability" table points here.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

import drawnet
from drawnet import ir
from drawnet.errors import DrawnetError, TraceError
from tests.fingerprint import assert_runs, assert_same, fingerprint, no_meta_tensors
from tests.test_hardening import assert_same_globals, global_state

ALL = ("auto", "meta", "export", "eager", "jit")
X = [2, 4]


def untouched(model: nn.Module, run: Callable[[], Any], *, forward: Callable[[nn.Module], Any],
              fails: bool | None = False) -> Any:
    """Run ``run`` (a drawnet call on ``model``); the model and torch must be exactly as
    before, hold no meta tensor, and a plain forward must still run. ``fails``: the call
    must raise a DrawnetError (True), must not (False), or may (None)."""
    before, globals_before = fingerprint(model), global_state()
    result = None
    if fails:
        with pytest.raises(DrawnetError):
            run()
    elif fails is None:
        try:
            result = run()
        except DrawnetError as e:
            named = str(e).split(" ")[0]  # the tracer that refused is named
            if named not in ("export", "jit", "every"):
                pytest.fail(f"a refusal that names no tracer: {e}")
    else:
        result = run()
    assert_same(before, fingerprint(model))
    assert_same_globals(globals_before, global_state())
    assert_runs(model, forward)
    return result


def plain(model: nn.Module) -> Any:
    return model(torch.randn(*X))


# ------------------------------------------------------------------ 1. never lose weights
class Aliased(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = self.first  # one module under two names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # a tied language-model head

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


class SharedNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        norm = nn.BatchNorm1d(4)
        self.a = nn.Sequential(nn.Linear(4, 4), norm)
        self.b = nn.Sequential(nn.Linear(4, 4), norm)  # one BatchNorm in two branches

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


@pytest.mark.parametrize("tracer", ALL)
@pytest.mark.parametrize("kind", ["aliased", "tied", "shared_norm"])
def test_aliases_keep_their_cpu_weights(kind: str, tracer: str) -> None:
    torch.manual_seed(0)
    model = {"aliased": Aliased, "tied": Tied, "shared_norm": SharedNorm}[kind]().eval()
    weights = {n: p.detach().clone() for n, p in model.named_parameters(remove_duplicate=False)}
    size, dtypes = ([2, 3], "long") if kind == "tied" else (X, None)

    def forward(m: nn.Module) -> Any:
        return m(torch.zeros(2, 3, dtype=torch.long) if kind == "tied" else torch.randn(*X))

    untouched(model, lambda: drawnet.draw_model(model, size, dtypes=dtypes, tracer=tracer),
              forward=forward)
    for name, p in model.named_parameters(remove_duplicate=False):
        assert p.device.type == "cpu", name
        assert torch.equal(p, weights[name]), name
    if kind == "aliased":
        assert model.first is model.second
    if kind == "tied":
        assert model.head.weight is model.embed.weight


# --------------------------------------------------------- 2. restore everything touched
class WritesToSelf(nn.Module):
    """A forward that changes everything it can reach."""

    def __init__(self, log: list[Any], table: dict[str, Any]) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gone = nn.ReLU()
        self.log = log  # shared with the caller
        self.table = table  # shared with the caller
        self.flag = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cache = torch.zeros(4).to(x.device)  # a tensor stored on self
        self.flag = True
        self.extra = nn.Linear(4, 4)  # a child added
        if hasattr(self, "gone"):
            del self.gone  # a child deleted
        self.register_buffer("seen", torch.ones(1, device=x.device))
        self.register_parameter("late", nn.Parameter(torch.ones(1, device=x.device)))
        self.fc.register_forward_hook(lambda m, a, o: None)  # a hook registered in forward
        self.fc.weight.data = self.fc.weight.data * 2  # .data replaced
        self.fc.bias.data.mul_(3)  # .data written in place
        self.log.append(x)
        self.table["last"] = x
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(True)
        torch.use_deterministic_algorithms(True, warn_only=True)
        out = self.fc(x) + self.cache
        torch.set_default_dtype(torch.float32)
        torch.set_default_dtype(torch.float64)
        return out.float()


@pytest.mark.parametrize("tracer", ALL)
@pytest.mark.parametrize("call", ["draw_model", "summary"])
def test_a_forward_that_writes_everywhere_leaves_nothing(tracer: str, call: str) -> None:
    log: list[Any] = []
    table: dict[str, Any] = {}
    model = WritesToSelf(log, table).eval()
    run = getattr(drawnet, call)

    def forward(m: nn.Module) -> Any:  # a fresh model: the real forward changes it
        return WritesToSelf([], {})(torch.randn(*X))

    # torch.export and torch.jit may refuse such a forward (.data writes); they must
    # say so, and leave the model as it was all the same
    may_fail = None if tracer in ("export", "jit") else False
    try:
        untouched(model, lambda: run(model, X, tracer=tracer), forward=forward,
                  fails=may_fail)
    finally:
        torch.set_default_dtype(torch.float32)
    assert model.log is log
    assert log == []
    assert model.table is table
    assert table == {}
    assert not hasattr(model, "cache")
    assert hasattr(model, "gone")
    assert model.flag is False


class RaisesAfterWriting(WritesToSelf):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        super().forward(x)
        raise ValueError("the model fails after writing to itself")


@pytest.mark.parametrize("tracer", ALL)
def test_a_failing_forward_that_writes_leaves_nothing(tracer: str) -> None:
    model = RaisesAfterWriting([], {}).eval()
    try:
        untouched(model, lambda: drawnet.draw_model(model, X, tracer=tracer),
                  forward=lambda m: WritesToSelf([], {})(torch.randn(*X)), fails=True)
    finally:
        torch.set_default_dtype(torch.float32)


class Interrupts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.armed = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.fc.register_forward_hook(lambda m, a, o: None)
        torch.set_default_dtype(torch.float64)
        if self.armed:
            raise KeyboardInterrupt
        return self.fc(x)


@pytest.mark.parametrize("tracer", ALL)
def test_ctrl_c_inside_forward_leaves_nothing(tracer: str) -> None:
    model = Interrupts()
    before, globals_before = fingerprint(model), global_state()
    with pytest.raises(KeyboardInterrupt):
        drawnet.draw_model(model, X, tracer=tracer)
    assert torch.get_default_dtype() == torch.float32
    assert_same(before, fingerprint(model))
    assert_same_globals(globals_before, global_state())


def test_sigint_at_any_moment_of_a_meta_trace_leaves_nothing() -> None:
    """Ctrl-C (a real SIGINT) at 25 moments spread over a meta trace."""
    from tests.models import residual_mlp_stack

    model = residual_mlp_stack(64)  # a trace long enough (~50 ms) for timers to land in
    model[3].norm.register_forward_hook(lambda m, a, o: None)
    before, globals_before = fingerprint(model), global_state()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        drawnet.trace_model(model, [1, 8, 32], tracer="meta")
        times.append(time.perf_counter() - start)
    took = sorted(times)[1]
    rng = random.Random(0)
    interrupted = 0
    for i in range(25):
        delay = took * 0.9 * (i + rng.random()) / 25
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        try:
            timer.start()
            drawnet.trace_model(model, [1, 8, 32], tracer="meta")
            timer.cancel()
            timer.join()
        except KeyboardInterrupt:
            interrupted += 1
        timer.join()
        assert_same(before, fingerprint(model))
        assert_same_globals(globals_before, global_state())
    assert interrupted >= 10  # most landed inside the trace
    assert not no_meta_tensors(model)


def test_a_second_ctrl_c_while_restoring_is_held_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Putting torch's settings back survives a KeyboardInterrupt in the middle of it,
    then re-raises it."""
    from drawnet.trace import guard

    calls: list[int] = []
    real = guard._put_back

    def interrupted_once(saved: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real(saved)

    monkeypatch.setattr(guard, "_put_back", interrupted_once)
    with pytest.raises(KeyboardInterrupt), guard.torch_state_kept():
        torch.set_default_dtype(torch.float64)
    assert torch.get_default_dtype() == torch.float32
    assert len(calls) == 2


@pytest.mark.slow
def test_faster_rcnn_still_runs_after_every_tracer() -> None:
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None).eval()
    img = torch.rand(3, 96, 96)
    for tracer in ("meta", "export"):
        untouched(model, lambda t=tracer: drawnet.draw_model(model, input_data=([img],),
                                                             tracer=t),
                  forward=lambda m: m([img]), fails=True)
    d = untouched(model, lambda: drawnet.draw_model(model, input_data=([img],)),
                  forward=lambda m: m([img]))
    assert d.tracer == "eager"
    assert [n.id for n in d.graph.nodes if n.kind == "input"] == ["input.images.0"]


# ------------------------------------------------------------ 3. only models that can run
@pytest.mark.parametrize("tracer", ["auto", "meta"])
@pytest.mark.parametrize(("model", "size", "layer"), [
    (lambda: nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(16)), [1, 4], "1 · LayerNorm"),
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4)), [1, 3, 8, 8],
     "1 · BatchNorm2d"),
    (lambda: nn.Sequential(nn.Conv2d(3, 6, 3), nn.GroupNorm(4, 8)), [1, 3, 8, 8],
     "1 · GroupNorm"),
    (lambda: nn.Sequential(nn.Conv2d(3, 6, 3), nn.PReLU(4)), [1, 3, 8, 8], "1 · PReLU"),
    (lambda: nn.Sequential(nn.Linear(4, 8), nn.Linear(7, 2)), [1, 4], "1 · Linear"),
])
def test_impossible_models_are_refused_naming_the_layer(
        model: Callable[[], nn.Module], size: list[int], layer: str, tracer: str) -> None:
    net = model()
    with pytest.raises(DrawnetError) as info:
        drawnet.draw_model(net, size, tracer=tracer)
    assert f"in {layer}" in str(info.value)
    with pytest.raises(RuntimeError):  # torch refuses it too
        net(torch.randn(*size))


class Mismatch(nn.Module):
    """Attention, a residual add and a cat whose shapes cannot meet."""

    def __init__(self, case: str) -> None:
        super().__init__()
        self.case = case

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.case == "add":
            return x + x[..., :3]
        if self.case == "cat":
            return torch.cat([x, x[:1, :3]], dim=0)
        return nn.functional.scaled_dot_product_attention(x, x[..., :3], x)


@pytest.mark.parametrize("case", ["add", "cat", "sdpa"])
def test_ops_between_modules_keep_torch_checks(case: str) -> None:
    with pytest.raises(DrawnetError):
        drawnet.draw_model(Mismatch(case), [2, 5, 4], tracer="meta")


# --------------------------------------------------------------------------- 4. lazy
def test_lazy_modules_are_counted_and_stay_lazy() -> None:
    model = nn.Sequential(nn.LazyLinear(10), nn.ReLU(), nn.LazyLinear(3))
    s = drawnet.summary(model, [1, 4])
    assert s.total_params == 50 + 33
    assert [r.params for r in s.layers if r.class_name == "LazyLinear"] == [50, 33]
    d = drawnet.draw_model(model, [1, 4], fold=False)
    assert dict(d.graph.node("0").attrs)["in_features"] == 4
    assert model[0].has_uninitialized_params()
    assert model[2].has_uninitialized_params()
    assert type(model[0]) is nn.LazyLinear


@pytest.mark.parametrize("tracer", ["export", "eager", "jit"])
def test_lazy_modules_under_every_tracer(tracer: str) -> None:
    model = nn.Sequential(nn.LazyLinear(10))
    assert drawnet.summary(model, [1, 4], tracer=tracer).total_params == 50
    assert model[0].has_uninitialized_params()


# ------------------------------------------------------------------ 5. shared modules
@pytest.mark.parametrize("tracer", ["meta", "export", "eager", "jit"])
def test_a_module_under_two_parents_has_one_row_per_call(tracer: str) -> None:
    relu = nn.ReLU()
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), relu),
                          nn.Sequential(nn.Linear(4, 4), relu))
    s = drawnet.summary(model, [1, 4], depth=None, tracer=tracer)
    rows = [(r.module_path, r.class_name, r.recursive) for r in s.layers]
    assert rows == [("", "Sequential", False), ("0", "Sequential", False),
                    ("0.0", "Linear", False), ("0.1", "ReLU", False),
                    ("1", "Sequential", False), ("1.0", "Linear", False),
                    ("1.1", "ReLU", False)]
    assert "(recursive)" not in str(s)
    d = drawnet.draw_model(model, [1, 4], tracer=tracer, fold=False)
    calls = {c.id: c.parent for c in d.graph.calls}
    assert calls["0.1"] == "0"
    assert calls["1.1"] == "1"
    assert s.total_params == 40


# ------------------------------------------------------------------ 6. nested inputs
class Detector(nn.Module):
    """Takes a list of images and a list of dicts of targets, as torchvision's do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.box = nn.Linear(4, 4)

    def forward(self, images: list[torch.Tensor], targets: Any = None,
                scale: float = 1.0) -> dict[str, torch.Tensor]:
        feats = [self.conv(im.unsqueeze(0)).mean((2, 3)) for im in images]
        out = torch.cat(feats) * scale
        if targets is not None:
            out = out + self.box(torch.stack([t["boxes"].mean(0) for t in targets]))
            assert targets[0]["note"] == "kept"
        return {"scores": out}


@pytest.mark.parametrize("tracer", ["meta", "export", "eager", "jit"])
def test_nested_inputs_positional_and_keyword(tracer: str) -> None:
    images = [torch.rand(3, 8, 8), torch.rand(3, 8, 8)]
    targets = [{"boxes": torch.rand(2, 4), "note": "kept"}, {"boxes": torch.rand(3, 4),
                                                              "note": "kept"}]
    model = Detector()
    d = drawnet.draw_model(model, input_data=(images,), kwargs={"targets": targets,
                                                                "scale": 2.0}, tracer=tracer)
    inputs = [n.id for n in d.graph.nodes if n.kind == "input"]
    assert inputs == ["input.images.0", "input.images.1", "input.targets.0.boxes",
                      "input.targets.1.boxes"]
    d2 = drawnet.draw_model(model, input_data=((images,), )[0] + (targets,), tracer=tracer)
    assert [n.id for n in d2.graph.nodes if n.kind == "input"] == inputs
    assert targets[0]["note"] == "kept"
    assert len(images) == 2


def test_cli_inputs_from_a_python_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    from drawnet.cli import main

    (tmp_path / "det.py").write_text(
        "import torch\n"
        "from tests.test_misbehaving import Detector\n"
        "def model():\n    return Detector()\n"
        "def inputs():\n    return ([torch.rand(3, 8, 8)],), {'scale': 2.0}\n")
    out = tmp_path / "d.svg"
    code = main(["render", str(tmp_path / "det.py:model"), "--inputs",
                 str(tmp_path / "det.py:inputs"), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert b"images.0" in out.read_bytes()
    code = main(["summary", str(tmp_path / "det.py:model"), "--inputs",
                 str(tmp_path / "det.py:nope")])
    assert code == 2
    assert "has no attribute 'nope'" in capsys.readouterr().err
    code = main(["summary", str(tmp_path / "det.py:model"), "--inputs",
                 str(tmp_path / "det.py:inputs"), "--input", "1,3,8,8"])
    assert code == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow
def test_faster_rcnn_draws_from_a_list_of_images() -> None:
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None).eval()
    d = drawnet.draw_model(model, input_data=([torch.rand(3, 96, 96)],))
    assert d.tracer == "eager"
    assert "input.images.0" in {n.id for n in d.graph.nodes}
    assert d.pipe("svg")


# ------------------------------------------------------- 7. trace breaks and hostile names
class Odd(nn.Module):
    """Module names made of the characters drawnet builds ids with."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("a", nn.Sequential(nn.Linear(4, 4)))
        self.add_module("a:relu", nn.ReLU())
        self.add_module("blk", nn.Linear(4, 4))
        self.add_module("blk@2", nn.Linear(4, 4))
        self.add_module("x#2", nn.Linear(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.a(x))
        x = getattr(self, "a:relu")(x)
        x = self.blk(self.blk(x))
        return getattr(self, "x#2")(getattr(self, "blk@2")(x))


@pytest.mark.parametrize("tracer", ["meta", "export", "eager"])
def test_module_names_with_id_characters(tracer: str) -> None:
    d = drawnet.draw_model(Odd(), [1, 4], tracer=tracer, depth=None, fold=False)
    ir.validate(d.graph)
    boxes = [(n.module_path, n.class_name) for n in d.graph.nodes if n.kind == "module"]
    assert boxes == [("a.0", "Linear"), ("a:relu", "ReLU"), ("blk", "Linear"),
                     ("blk", "Linear"), ("blk@2", "Linear"), ("x#2", "Linear")]
    assert drawnet.summary(Odd(), [1, 4], tracer=tracer).total_params == 80


def test_a_box_that_would_close_a_cycle_is_opened() -> None:
    """Ops of one call interleaved with an op outside it: drawn without a cycle."""
    from drawnet.passes.layers import build_layers

    t = ir.TensorMeta((1, 4))
    nodes = (ir.Node(id="input.x", kind="input", op="input", outputs=(t,)),
             ir.Node(id="a:linear", kind="function", op="linear", scope=("a",)),
             ir.Node(id=":add", kind="function", op="add"),
             ir.Node(id="a:relu", kind="function", op="relu", scope=("a",)),
             ir.Node(id="output", kind="output", op="output"))
    edges = (ir.Edge("input.x", "a:linear"), ir.Edge("a:linear", ":add"),
             ir.Edge(":add", "a:relu"), ir.Edge("a:relu", "output"))
    graph = ir.Graph(nodes=nodes, edges=edges,
                     modules=(ir.ModuleInfo("", "Net", is_leaf=False), ir.ModuleInfo("a", "A")),
                     calls=(ir.Call("a", "a", "A"),))
    out = build_layers(graph)
    ir.validate(out)
    assert [n.id for n in out.nodes] == ["input.x", "a:linear", ":add", "a:relu", "output"]


@pytest.mark.slow
def test_flaubert_draws() -> None:
    import transformers

    model = transformers.FlaubertModel(transformers.FlaubertConfig(
        vocab_size=100, emb_dim=32, n_layers=2, n_heads=2)).eval()
    d = drawnet.draw_model(model, [1, 8], dtypes="long")
    ir.validate(d.graph)
    assert d.tracer == "meta"  # its masks and lengths are answered beside the meta run
    assert {c.path for c in d.graph.calls} >= {"attentions.0", "attentions.1", "ffns.1"}
    d = drawnet.draw_model(model, [1, 8], dtypes="long", tracer="export")
    ir.validate(d.graph)  # the export tracer, which it once needed, draws it too
    assert {c.path for c in d.graph.calls} >= {"attentions.0", "attentions.1", "ffns.1"}


class NeedsY(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, y: Any = None, mask: Any = None) -> torch.Tensor:
        return self.fc(x) * y.size(0)


def test_a_missing_input_is_named() -> None:
    with pytest.raises(TraceError) as info:
        drawnet.draw_model(NeedsY(), X, tracer="export")
    message = str(info.value)
    assert message.startswith("export trace failed in NeedsY.forward")
    assert "forward also takes y, mask" in message


def test_export_on_a_model_partly_on_meta() -> None:
    class Legacy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.bias_u = nn.Parameter(torch.Tensor(4))  # CPU even under torch.device("meta")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) + self.bias_u

    with torch.device("meta"):
        model = Legacy()
    assert {p.device.type for p in model.parameters()} == {"meta", "cpu"}
    d = drawnet.draw_model(model, X, tracer="export")
    assert d.tracer == "export"


@pytest.mark.parametrize(("tracer", "hint"), [
    ("meta", "use tracer='eager'"), ("export", "use tracer='eager'"),
])
def test_tracer_errors_say_which_where_and_what_to_try(tracer: str, hint: str) -> None:
    from tests.models import WeightBranchy

    with pytest.raises(TraceError) as info:
        drawnet.draw_model(WeightBranchy(), X, tracer=tracer)
    message = str(info.value)
    assert message.startswith(f"{tracer} trace failed in WeightBranchy.forward (input 2×4)")
    assert hint in message


# ------------------------------------------------------------------------- 8. threads
def test_one_model_drawn_from_four_threads() -> None:
    model = torchvision.models.resnet18()
    before = fingerprint(model)
    expected = drawnet.draw_model(model, [1, 3, 64, 64]).source
    got: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work() -> None:
        try:
            start.wait()
            for _ in range(3):
                got.append(drawnet.draw_model(model, [1, 3, 64, 64]).source)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 12
    assert all(src == expected for src in got)
    assert_same(before, fingerprint(model))
    assert not no_meta_tensors(model)


@pytest.mark.parametrize("tracer", ["export", "eager", "jit"])
def test_four_threads_under_every_tracer(tracer: str) -> None:
    """torch.export and torch.jit.trace keep process-wide state: drawnet runs them one at
    a time; eager runs concurrently. Every thread gets the single-threaded graph."""
    from tests.models import TinyResNet

    model = TinyResNet().eval()
    before, stderr = fingerprint(model), sys.stderr
    expected = drawnet.trace_model(model, [1, 3, 16, 16], tracer=tracer)
    got: list[ir.Graph] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work() -> None:
        try:
            start.wait()
            got.extend(drawnet.trace_model(model, [1, 3, 16, 16], tracer=tracer)
                       for _ in range(2))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 8
    assert all((g.nodes, g.edges) == (expected.nodes, expected.edges) for g in got)
    assert sys.stderr is stderr  # export's quieting put it back
    assert_same(before, fingerprint(model))


# ------------------------------------------------------------------ 9. counting gaps
def test_tied_head_memory_matches_torchinfo() -> None:
    import torchinfo
    import transformers

    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=2, vocab_size=500, n_positions=64, bos_token_id=0,
        eos_token_id=0)).eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    ours = drawnet.summary(model, [1, 32], dtypes="long").forward_backward_bytes
    theirs = torchinfo.summary(model, input_size=(1, 32), dtypes=[torch.long],
                               verbose=0).total_output_bytes
    assert ours == theirs
    logits = 2 * 1 * 32 * 500 * 4
    assert ours > logits  # the tied head's logits are in


@pytest.mark.parametrize(("bias_kv", "zero_attn", "macs"), [
    (False, False, 14_528), (True, False, 14_848), (False, True, 14_848),
    (True, True, 15_168)])
def test_multihead_attention_extra_keys(bias_kv: bool, zero_attn: bool, macs: int) -> None:
    # in-projections 9,728 + out-projection 2,560 + products 2·2·5·S'·16, S' = 7 (+1 each)
    model = nn.MultiheadAttention(16, 2, batch_first=True, add_bias_kv=bias_kv,
                                  add_zero_attn=zero_attn)
    for tracer in ("meta", "eager"):
        s = drawnet.summary(model, [[2, 5, 16], [2, 7, 16], [2, 7, 16]], tracer=tracer)
        assert s.total_macs == macs, tracer


class ThreeWay(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,jk,kl->il", a, b, c)


def test_three_operand_einsum_counts_as_torch_contracts() -> None:
    from drawnet import stats

    shapes = [[2, 100], [100, 3], [3, 100]]
    macs = drawnet.summary(ThreeWay(), shapes).total_macs
    try:
        import opt_einsum  # noqa: F401
    except ImportError:
        assert macs == 2 * 100 * 3 + 2 * 3 * 100  # left to right, as torch without it
    else:
        assert macs == stats._einsum_cost("ij,jk,kl->il", [tuple(s) for s in shapes],
                                          stats._torch_path("ij,jk,kl->il", shapes)).macs
    # along another path (what opt_einsum would pick for other sizes): counted on it
    cost = stats._einsum_cost("ij,jk,kl->il", [(2, 100), (100, 3), (3, 100)], [(1, 2), (0, 1)])
    assert cost is not None
    assert cost.macs == 100 * 3 * 100 + 2 * 100 * 100


def test_small_models_never_print_zero() -> None:
    text = str(drawnet.summary(nn.Sequential(nn.Linear(4, 10)), [1, 4]))
    assert "0.00" not in text
    assert "Total mult-adds: 40" in text
    assert "Params size (B): 200" in text
    big = str(drawnet.summary(torchvision.models.resnet18(), [1, 3, 224, 224]))
    assert "Total mult-adds (G): 1.81" in big
    assert "Input size (MB): 0.60" in big


# --------------------------------------------------------------- 10. partial diagram
def test_a_failed_trace_carries_its_partial_diagram() -> None:
    model = torchvision.models.resnet18()
    model.layer3[0].conv1 = nn.Conv2d(100, 256, 3)
    with pytest.raises(TraceError) as info:
        drawnet.draw_model(model, [1, 3, 64, 64], orientation="TB")
    diagram = info.value.diagram
    assert isinstance(diagram, drawnet.Diagram)
    assert diagram.graph.get_meta("failed") == "layer3.0.conv1"
    boxes = {n.id for n in diagram.graph.nodes}
    assert {"conv1", "layer2.1.bn2", "layer3.0.conv1"} <= boxes  # up to the failure
    assert "layer4.0.conv1" not in boxes
    assert "fc" not in boxes
    assert 'color="#d62728"' in diagram.source
    assert 'rankdir="TB"' in diagram.source
    assert "trace failed" in diagram.source
    bundle = info.value._repr_mimebundle_()
    assert "image/svg+xml" in bundle
    assert "layer3.0.conv1" in bundle["text/plain"]


def test_cli_writes_the_partial_diagram(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    from drawnet.cli import main

    (tmp_path / "bad.py").write_text(
        "from torch import nn\n"
        "def make():\n    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.LayerNorm(16))\n")
    out = tmp_path / "p.svg"
    args = ["render", str(tmp_path / "bad.py:make"), "--input", "1,4", "-o", str(out),
            "--tracer", "meta"]
    assert main(args) == 2
    assert not out.exists()
    assert main([*args, "--partial"]) == 2
    assert "wrote the partial diagram" in capsys.readouterr().err
    svg = out.read_text()
    assert "LayerNorm" in svg
    assert "#d62728" in svg
