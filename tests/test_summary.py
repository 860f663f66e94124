"""summary() and model_stats(): reference counts, the torchinfo table, data exports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

import drawnet
from drawnet.errors import MissingDependencyError, OptionError
from drawnet.ir import Call, Graph, ModuleInfo, Node, TensorMeta, Totals
from drawnet.summary import COLUMNS, Summary, build_summary, stats_rows

# ---------------------------------------------------------------------------------------
# Reference models (built on the meta device: no weights, so each traces in well under 1 s)
# ---------------------------------------------------------------------------------------


def _meta(make: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return make()


def _bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    return _meta(lambda: BertModel(BertConfig()))


def _gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2Model

    return _meta(lambda: GPT2Model(GPT2Config()))


# name -> (model factory, input size, dtypes, MACs, params)
REFERENCE: dict[str, tuple[Callable[[], nn.Module], list[int], str | None, int, int]] = {
    "resnet18": (torchvision.models.resnet18, [1, 3, 224, 224], None,
                 1_814_073_344, 11_689_512),
    "vit_b_16": (lambda: _meta(torchvision.models.vit_b_16), [1, 3, 224, 224], None,
                 17_563_828_224, 86_567_656),
    "bert": (_bert, [1, 128], "long", 11_174_215_680, 109_482_240),
    "gpt2": (_gpt2, [1, 128], "long", 11_173_625_856, 124_439_808),
    "lstm": (lambda: nn.LSTM(100, 200, num_layers=2, batch_first=True), [1, 50, 100], None,
             28_000_000, 563_200),
}


@cache
def reference_graph(name: str) -> Graph:
    make, size, dtypes, _, _ = REFERENCE[name]
    return drawnet.trace_model(make(), size, dtypes=dtypes)


def reference(name: str, depth: int | None = None) -> Summary:
    return build_summary(reference_graph(name), depth=depth)


def close(actual: int, expected: int, rel: float = 0.005) -> bool:
    return abs(actual - expected) <= rel * expected


@pytest.mark.parametrize("name", list(REFERENCE))
def test_reference_macs_and_params(name: str) -> None:
    make, size, dtypes, macs, params = REFERENCE[name]
    s = drawnet.summary(make(), size, dtypes=dtypes)
    assert close(s.total_macs, macs), f"{s.total_macs:,} vs {macs:,}"
    assert s.total_macs == macs  # the tracer and rules hit the hand counts exactly
    assert s.total_params == params


def test_alexnet_params() -> None:
    s = drawnet.summary(_meta(torchvision.models.alexnet), [1, 3, 224, 224])
    assert s.total_params == 61_100_840


def test_vit_attention_matmuls_are_counted() -> None:
    s = reference("vit_b_16")
    mha = [r for r in s.layers if r.class_name == "MultiheadAttention"]
    assert len(mha) == 12
    projections = 12 * 4 * 197 * 768 * 768  # in-projection (q, k, v) and out-projection
    assert sum(r.macs for r in mha) - projections == 715_327_488


def test_bert_attention_products_belong_to_the_self_attention_row() -> None:
    s = reference("bert")
    rows = [r for r in s.layers if r.class_name == "BertSelfAttention"]
    assert len(rows) == 12
    # q·kᵀ and p·v: 2 · heads(12) · 128 · 128 · 64, run between the Linear children
    assert {r.macs for r in rows} == {2 * 12 * 128 * 128 * 64}
    assert {r.inclusive_macs for r in rows} == {3 * 128 * 768 * 768 + 2 * 12 * 128 * 128 * 64}


# ---------------------------------------------------------------------------------------
# The resnet18 table: golden text, the tutorial's totals, and torchinfo's rows
# ---------------------------------------------------------------------------------------


@cache
def resnet18() -> tuple[nn.Module, Graph]:
    model = torchvision.models.resnet18()
    return model, drawnet.trace_model(model, [1, 3, 224, 224])


def test_resnet18_table_golden(golden: Callable[[str, str], None]) -> None:
    s = build_summary(resnet18()[1])
    golden("summary_resnet18.txt", str(s))


def test_resnet18_totals_read_as_in_the_torchinfo_tutorial() -> None:
    text = str(build_summary(resnet18()[1]))
    for line in (
        "Total params: 11,689,512",
        "Trainable params: 11,689,512",
        "Non-trainable params: 0",
        "Total mult-adds (G): 1.81",
        "Input size (MB): 0.60",
        "Forward/backward pass size (MB): 39.75",
        "Params size (MB): 46.76",
        "Estimated Total Size (MB): 87.11",
    ):
        assert f"\n{line}\n" in text


def _rows(text: str) -> list[str]:
    """The layer rows of a torchinfo-style table, whitespace-normalised."""
    lines = text.splitlines()[3:]
    return [" ".join(line.split()) for line in lines[: next(
        i for i, line in enumerate(lines) if line.startswith("="))]]


@pytest.mark.parametrize("depth", [1, 3, 4])
def test_resnet18_rows_match_torchinfo(depth: int) -> None:
    torchinfo = importlib.import_module("torchinfo")
    model, graph = resnet18()
    theirs = torchinfo.summary(model, (1, 3, 224, 224), depth=depth, verbose=0,
                               col_names=("output_size", "num_params"))
    ours = build_summary(graph, depth=depth, columns=("output_shape", "params"))
    # torchinfo >= 1.8 shows the model's output on the first row; the tutorial shows "--"
    assert _rows(str(theirs))[1:] == _rows(str(ours))[1:]
    assert theirs.total_params == ours.total_params
    assert theirs.total_output_bytes == ours.forward_backward_bytes
    assert theirs.total_param_bytes == ours.param_bytes
    assert round(theirs.total_input / 1e6, 2) == round(ours.input_bytes / 1e6, 2)


def test_resnet18_rows_follow_the_tutorial() -> None:
    s = build_summary(resnet18()[1])
    names = [r.name for r in s.layers]
    assert len(names) == 70
    block = names[names.index("BasicBlock: 2-3") + 1: names.index("BasicBlock: 2-4")]
    assert block == ["Conv2d: 3-13", "BatchNorm2d: 3-14", "ReLU: 3-15", "Conv2d: 3-16",
                     "BatchNorm2d: 3-17", "Sequential: 3-18", "ReLU: 3-19"]
    relu = s.layers[names.index("ReLU: 3-6")]
    assert relu.call_id == "layer1.0.relu@2"
    assert relu.recursive
    downsample = s.layers[names.index("Sequential: 3-18")]
    assert downsample.folded
    assert downsample.params == 8_448
    assert downsample.macs == 128 * 64 * 28 * 28


# ---------------------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "bert", "gpt2", "vit_b_16"])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 5, None])
def test_columns_sum_to_totals_at_every_depth(name: str, depth: int | None) -> None:
    s = reference(name, depth)
    assert sum(r.params for r in s.layers) == s.total_params
    assert sum(r.trainable_params for r in s.layers) == s.trainable_params
    assert sum(r.macs for r in s.layers) == s.total_macs
    assert sum(r.flops for r in s.layers) == s.total_flops
    assert s.layers[0].inclusive_macs == s.total_macs
    assert s.layers[0].inclusive_params == s.total_params
    assert all(r.depth <= (depth if depth is not None else 99) for r in s.layers)
    for r in s.layers:
        if r.folded or r.is_leaf:
            assert r.macs == r.inclusive_macs
            assert r.params == (0 if r.recursive else r.inclusive_params)


def test_rows_deeper_than_depth_fold_into_their_ancestor() -> None:
    graph = resnet18()[1]
    full = build_summary(graph, depth=None)
    cut = build_summary(graph, depth=1)
    layer2 = next(r for r in cut.layers if r.module_path == "layer2")
    assert layer2.folded
    inside = [r for r in full.layers if r.module_path.startswith("layer2")]
    assert layer2.macs == sum(r.macs for r in inside) == layer2.inclusive_macs
    assert layer2.params == sum(r.params for r in inside) == 525_568


def test_depth_index_counts_every_row_of_a_depth() -> None:
    s = build_summary(resnet18()[1], depth=None)
    for depth in (1, 2, 3, 4):
        assert [r.depth_index for r in s.layers if r.depth == depth] == list(
            range(1, 1 + sum(r.depth == depth for r in s.layers)))


# ---------------------------------------------------------------------------------------
# Hand-made graphs: containers that never run, repeated calls, a root that is a leaf
# ---------------------------------------------------------------------------------------

X = TensorMeta((1, 4))


def _graph(calls: list[Call], modules: list[ModuleInfo], ops: list[Node]) -> Graph:
    nodes = (Node(id="input.x", kind="input", op="input", outputs=(X,)), *ops,
             Node(id="output", kind="output", op="output", inputs=(X,)))
    return Graph(nodes=nodes, modules=tuple(modules), calls=tuple(calls), totals=Totals(
        params=sum(m.params for m in modules), trainable_params=sum(
            m.trainable_params for m in modules), param_bytes=4 * sum(m.params for m in modules),
        macs=sum(n.macs for n in ops), flops=sum(n.flops for n in ops)))


def _op(scope: tuple[str, ...], macs: int) -> Node:
    return Node(id=f"{scope[-1] if scope else 'root'}:op{macs}", kind="function", op="linear",
                scope=scope, macs=macs, flops=2 * macs)


def _lin(path: str, params: int = 20, trainable: int = 20) -> ModuleInfo:
    return ModuleInfo(path, "Linear", params=params, trainable_params=trainable,
                      param_bytes=4 * params)


def test_a_module_list_that_never_runs_gets_its_row() -> None:
    g = _graph(
        calls=[Call("blocks.0", "blocks.0", "Linear", inputs=(X,), outputs=(X,)),
               Call("blocks.1", "blocks.1", "Linear", inputs=(X,), outputs=(X,))],
        modules=[ModuleInfo("", "Net", params=3, trainable_params=3, is_leaf=False),
                 ModuleInfo("blocks", "ModuleList", is_leaf=False),
                 _lin("blocks.0"), _lin("blocks.1"), _lin("unused")],
        ops=[_op(("blocks.0",), 16), _op(("blocks.1",), 16), _op((), 5)],
    )
    s = build_summary(g)
    assert [(r.name, r.called, r.params, r.macs) for r in s.layers] == [
        ("Net", True, 23, 5),  # its own 3 and the unused Linear's 20; its own op
        ("ModuleList: 1-1", False, 0, 0),
        ("Linear: 2-1", True, 20, 16),
        ("Linear: 2-2", True, 20, 16),
    ]
    assert "│    └─Linear: 2-2" in str(s)
    s1 = build_summary(g, depth=1)
    assert [(r.name, r.params, r.macs, r.folded) for r in s1.layers] == [
        ("Net", 23, 5, False), ("ModuleList: 1-1", 40, 32, True)]


def test_a_module_called_twice_counts_its_work_twice_and_its_params_once() -> None:
    g = _graph(
        calls=[Call("fc", "fc", "Linear", inputs=(X,), outputs=(X,)),
               Call("fc@2", "fc", "Linear", inputs=(X,), outputs=(X,))],
        modules=[ModuleInfo("", "Net", is_leaf=False), _lin("fc", 20, 0)],
        ops=[_op(("fc",), 16), _op(("fc@2",), 16)],
    )
    s = build_summary(g, columns=COLUMNS)
    assert [(r.params, r.macs, r.recursive) for r in s.layers[1:]] == [(20, 16, False),
                                                                       (0, 16, True)]
    assert s.forward_backward_bytes == 2 * 2 * X.nbytes  # torchinfo counts every call
    lines = str(s).splitlines()
    assert "(20)" in lines[4]
    assert "False" in lines[4]
    assert "(recursive)" in lines[5]
    assert s.non_trainable_params == 20


def test_a_root_that_is_a_leaf_module() -> None:
    out = TensorMeta((1, 50, 200))
    g = _graph(calls=[Call("LSTM", "", "LSTM", inputs=(X,), outputs=(out,))],
               modules=[ModuleInfo("", "LSTM", params=100, trainable_params=100)],
               ops=[_op(("LSTM",), 70)])
    s = build_summary(g)
    assert len(s.layers) == 1
    row = s.layers[0]
    assert (row.name, row.params, row.macs, row.output_shape) == ("LSTM", 100, 70, (1, 50, 200))
    assert s.forward_backward_bytes == 2 * out.nbytes


# ---------------------------------------------------------------------------------------
# Options and exports
# ---------------------------------------------------------------------------------------


def test_invalid_column_depth_and_format_are_value_errors() -> None:
    net = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="unknown column: 'bogus'"):
        drawnet.summary(net, [1, 4], columns=("params", "bogus"))
    with pytest.raises(OptionError, match="listed twice"):
        drawnet.summary(net, [1, 4], columns=("params", "params"))
    with pytest.raises(OptionError, match="depth"):
        drawnet.summary(net, [1, 4], depth=-1)
    with pytest.raises(OptionError, match="unknown format"):
        drawnet.summary(net, [1, 4]).to_text("yaml")


def test_every_column_renders() -> None:
    s = build_summary(resnet18()[1], depth=1, columns=COLUMNS)
    text = str(s)
    header = text.splitlines()[1]
    for title in ("Input Shape", "Kernel Shape", "Param %", "FLOPs", "Memory", "Trainable"):
        assert title in header
    conv = text.splitlines()[4]
    assert "[7, 7]" in conv
    assert "0.08%" in conv
    assert "236,027,904" in conv
    assert "True" in conv
    assert "Total FLOPs (G): 3.64" in text


def test_to_dict_is_json_serialisable() -> None:
    s = build_summary(resnet18()[1])
    data = json.loads(json.dumps(s.to_dict()))
    assert data["totals"]["params"] == 11_689_512
    assert data["totals"]["macs"] == 1_814_073_344
    assert data["layers"][1]["output_shape"] == [1, 64, 112, 112]
    assert len(data["layers"]) == len(s.layers)
    assert json.loads(s.to_text("json")) == data


def test_markdown_and_csv() -> None:
    s = build_summary(resnet18()[1], depth=1)
    md = s.to_text("markdown")
    assert md.startswith("| Layer (type:depth-idx) | Output Shape | Param # | Mult-Adds |")
    assert "| ├─Conv2d: 1-1 | [1, 64, 112, 112] | 9,408 | 118,013,952 |" in md
    assert "| Total params | 11,689,512 |" in md
    csv_lines = s.to_text("csv").splitlines()
    assert csv_lines[0].startswith("call_id,module_path,class_name,depth")
    assert len(csv_lines) == 1 + len(s.layers)


def test_html_repr_escapes_and_shows_totals() -> None:
    g = _graph(calls=[Call("fc", "fc", "Lin<ear>", inputs=(X,), outputs=(X,))],
               modules=[ModuleInfo("", "Net&Co", is_leaf=False), _lin("fc")],
               ops=[_op(("fc",), 16)])
    page = build_summary(g)._repr_html_()
    assert page.startswith("<table")
    assert "Net&amp;Co" in page
    assert "Lin&lt;ear&gt;" in page
    assert "Lin<ear>" not in page
    assert "Total params" in page


def test_to_pandas() -> None:
    importlib.import_module("pandas")
    df = build_summary(resnet18()[1]).to_pandas()
    assert len(df) == 70
    assert df["params"].sum() == 11_689_512
    assert df["macs"].sum() == 1_814_073_344
    assert df.loc[1, "output_shape"] == (1, 64, 112, 112)


def test_missing_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    s = build_summary(resnet18()[1])
    with pytest.raises(MissingDependencyError, match=r"pip install pandas"):
        s.to_pandas()
    with pytest.raises(ImportError, match="model_stats"):
        drawnet.model_stats(nn.Linear(4, 2), [1, 4])


# ---------------------------------------------------------------------------------------
# model_stats (tensorwatch's call)
# ---------------------------------------------------------------------------------------


def test_model_stats_alexnet_one_row_per_layer_and_silent(
        capsys: pytest.CaptureFixture[str]) -> None:
    importlib.import_module("pandas")
    model = torchvision.models.alexnet()
    df = drawnet.model_stats(model, [1, 3, 224, 224])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""
    leaves = [name for name, m in model.named_modules() if not list(m.children())]
    assert df["module_name"].tolist() == leaves
    assert len(df) == 21
    assert list(df.columns) == ["module_name", "class_name", "input_shape", "output_shape",
                                "params", "macs", "flops", "memory_read", "memory_written"]
    dropout = df[df["class_name"] == "Dropout"]
    assert len(dropout) == 2
    assert (dropout["macs"] == 0).all()
    assert (dropout["flops"] == 0).all()
    assert df["params"].sum() == 61_100_840
    assert df["macs"].sum() == 714_188_480
    conv1 = df.iloc[0]
    assert conv1["input_shape"] == (1, 3, 224, 224)
    assert conv1["output_shape"] == (1, 64, 55, 55)
    assert conv1["memory_read"] == 3 * 224 * 224 * 4 + 23_296 * 4
    assert conv1["memory_written"] == 64 * 55 * 55 * 4


def test_model_stats_keeps_container_work_so_sums_hold() -> None:
    s = build_summary(resnet18()[1], depth=None)
    rows = stats_rows(s)
    assert sum(r["macs"] for r in rows) == s.total_macs
    assert sum(r["flops"] for r in rows) == s.total_flops
    assert sum(r["params"] for r in rows) == s.total_params
    blocks = [r for r in rows if r["class_name"] == "BasicBlock"]
    assert len(blocks) == 8
    assert all(r["macs"] == 0 and r["flops"] > 0 for r in blocks)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drawnet", "summary", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_summary_json() -> None:
    r = _cli("torchvision.models:resnet18", "--input", "1,3,224,224", "--format", "json",
             "--depth", "2", "--columns", "output_shape,params,flops")
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    assert data["totals"]["params"] == 11_689_512
    assert data["depth"] == 2
    assert data["columns"] == ["output_shape", "params", "flops"]
    assert max(layer["depth"] for layer in data["layers"]) == 2


def test_cli_summary_table_and_errors(tmp_path: Any) -> None:
    from drawnet.cli import main

    out = tmp_path / "s.md"
    assert main(["summary", "torchvision.models:alexnet", "--input", "1,3,224,224",
                 "--format", "markdown", "-o", str(out)]) == 0
    assert "| ├─Sequential: 1-1 |" in out.read_text()
    assert main(["summary", "torchvision.models:alexnet", "--input", "1,3,224,224",
                 "--columns", "bogus"]) == 2
    assert main(["summary", "torchvision.models:alexnet", "--input", "1,3,224,224",
                 "--format", "yaml"]) == 2


def test_cli_summary_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from drawnet.cli import main

    assert main(["summary", "torchvision.models:resnet18", "--input", "1,3,224,224"]) == 0
    text = capsys.readouterr().out
    assert "├─Conv2d: 1-1" in text
    assert "Estimated Total Size (MB): 87.11" in text
