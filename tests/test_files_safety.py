"""Files drawnet reads and writes: saved programs that try to run code, zip bombs, and
output targets that are not plain files.

Every planted payload would create a marker file if it ran. Each test first shows the
payload is live (torch itself, or the plain mechanism, runs it), then that drawnet
refuses the file (``UnsafeFileError``, exit status 2) and no marker appears. Loading runs
in-process (fast); one test runs the command line as a shell user would.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import drawnet
from drawnet.cli import main
from drawnet.errors import DrawnetError, OutputError, UnsafeFileError
from drawnet.loaders import LoadError, load_program, pickle_imports


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1), 1)
        return self.fc(y) * self.scale


X = torch.zeros(1, 3, 16, 16)


@pytest.fixture(scope="module")
def good_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine program with a dynamic batch size (so it holds shape expressions)."""
    path = tmp_path_factory.mktemp("pt2") / "small.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(Small().eval(), (torch.zeros(2, 3, 16, 16),),
                                  dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return path


def _marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


class _Payload:
    """Unpickling this runs ``code``: what a malicious file does."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (exec, (self.code,))


def _members(path: Path) -> tuple[str, dict[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        root = names[0].split("/")[0]
        return root, {n.removeprefix(root + "/"): z.read(n) for n in names}


def _write(path: Path, root: str, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(f"{root}/{name}", data)
    return path


def _tamper(good: Path, out: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    root, members = _members(good)
    edit(members)
    return _write(out, root, members)


def _edit_json(members: dict[str, bytes], name: str, edit: Callable[[Any], None]) -> None:
    data = json.loads(members[name])
    edit(data)
    members[name] = json.dumps(data).encode()


def _nodes(program: dict[str, Any]) -> list[dict[str, Any]]:
    return list(program["graph_module"]["graph"]["nodes"])


def _assert_refused(path: Path, marker: Path, fragment: str,
                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnsafeFileError, match=fragment):
        load_program(path)
    assert not marker.exists(), "loading the file ran code from it"
    out = path.with_suffix(".svg")
    assert main(["render", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drawnet: error: "), err
    assert err.count("\n") == 1, err
    assert "--trust-pickle" in err
    assert not marker.exists()
    assert not out.exists()


# --------------------------------------------------------------------------- planted payloads


def test_protocol_0_pickle_as_example_inputs(
    good_pt2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(_Payload(_marker_code(marker)), protocol=0)
    assert payload[:1] != b"\x80", "protocol 0 has no header"
    evil = _tamper(good_pt2, tmp_path / "evil.pt2",
                   lambda m: m.__setitem__("data/sample_inputs/model.pt", payload))
    pickle.loads(payload)  # the payload is live
    assert marker.exists()
    marker.unlink()
    _assert_refused(evil, marker, "example inputs", capsys)


def test_torch_save_payload_as_example_inputs_is_live_under_torch(
    good_pt2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    buf = io.BytesIO()
    torch.save(_Payload(_marker_code(marker)), buf)
    evil = _tamper(good_pt2, tmp_path / "evil.pt2",
                   lambda m: m.__setitem__("data/sample_inputs/model.pt", buf.getvalue()))
    _assert_refused(evil, marker, "imports builtins.exec", capsys)
    with pytest.raises(Exception):  # noqa: B017, PT011 - after running it, on its None
        torch.export.load(str(evil))
    assert marker.exists(), "torch.export.load runs this payload (the refusal matters)"


@pytest.mark.parametrize("kind", ["use_pickle-constant", "opaque-object", "custom-object"])
def test_pickled_constants(
    kind: str, good_pt2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(_Payload(_marker_code(marker)), protocol=0)
    path_name = {"use_pickle-constant": "tensor_9", "opaque-object": "opaque_obj_0",
                 "custom-object": "custom_obj_0"}[kind]

    def edit(members: dict[str, bytes]) -> None:
        members[f"data/constants/{path_name}"] = payload

        def add(config: Any) -> None:
            config["config"]["planted"] = {"path_name": path_name, "is_param": False,
                                           "use_pickle": True, "tensor_meta": None}
        _edit_json(members, "data/constants/model_constants_config.json", add)

    evil = _tamper(good_pt2, tmp_path / "evil.pt2", edit)
    what = {"use_pickle-constant": "pickled tensor", "opaque-object": "opaque Python object",
            "custom-object": "TorchScript custom object"}[kind]
    _assert_refused(evil, marker, what, capsys)


def test_pickled_weight(good_pt2: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    buf = io.BytesIO()
    torch.save(_Payload(_marker_code(marker)), buf)

    def edit(members: dict[str, bytes]) -> None:
        def first_to_pickle(config: Any) -> None:
            entry = next(iter(config["config"].values()))
            entry["use_pickle"] = True
            members[f"data/weights/{entry['path_name']}"] = buf.getvalue()
        _edit_json(members, "data/weights/model_weights_config.json", first_to_pickle)

    evil = _tamper(good_pt2, tmp_path / "evil.pt2", edit)
    _assert_refused(evil, marker, "pickled tensor", capsys)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the payload is not a tensor
        torch.export.load(str(evil))
    assert marker.exists(), "torch.export.load unpickles use_pickle weights"


_SO_SOURCE = """
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w");
    if (f) fclose(f);
}
"""


def _native_library(marker: Path, folder: Path) -> bytes:
    """A shared library whose constructor creates ``marker`` (or ELF-like bytes without
    a C compiler: drawnet refuses by name, before anything could load it)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return b"\x7fELF" + b"\0" * 60
    src = folder / "planted.c"
    src.write_text(_SO_SOURCE % marker)
    lib = folder / "planted.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True,
                   capture_output=True)
    return lib.read_bytes()


def test_native_library(good_pt2: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    lib = _native_library(marker, tmp_path)
    evil = _tamper(good_pt2, tmp_path / "evil.pt2",
                   lambda m: m.__setitem__("data/aotinductor/model/model.so", lib))
    _assert_refused(evil, marker, "native code", capsys)
    # Trusted, the program is drawn and the library is still not loaded: drawing needs
    # the program only.
    program = load_program(evil, trust_pickle=True)
    assert not marker.exists()
    assert drawnet.summary(program).total_params == 4 * 3 * 9 + 4 + 4 * 2 + 2


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="needs a C compiler to build the planted library")
def test_planted_library_is_live(tmp_path: Path) -> None:
    import ctypes

    marker = tmp_path / "MARKER"
    lib = tmp_path / "copy.so"
    lib.write_bytes(_native_library(marker, tmp_path))
    ctypes.CDLL(str(lib))
    assert marker.exists(), "loading the planted library runs its constructor"


def test_shape_expression_that_evals(
    good_pt2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # torch sympify()s every shape expression of the program, and sympify eval()s text.
    marker = tmp_path / "MARKER"
    code = f"__import__('builtins').exec({_marker_code(marker)!r})"

    def edit(members: dict[str, bytes]) -> None:
        text = members["models/model.json"].decode()
        assert '"expr_str": "' in text, "the program should hold a symbolic size"
        first = text.index('"expr_str": "') + len('"expr_str": "')
        end = text.index('"', first)
        members["models/model.json"] = (text[:first] + code.replace('"', '\\"')
                                        + text[end:]).encode()

    evil = _tamper(good_pt2, tmp_path / "evil.pt2", edit)
    _assert_refused(evil, marker, "shape expression", capsys)
    import sympy

    sympy.sympify(code)  # the payload is live
    assert marker.exists()


def test_guard_code_is_never_run(good_pt2: Path, tmp_path: Path) -> None:
    # ExportedProgram.module() exec()s the program's guard code.
    marker = tmp_path / "MARKER"

    def edit(members: dict[str, bytes]) -> None:
        _edit_json(members, "models/model.json", lambda p: p.__setitem__(
            "guards_code", [f"__import__('pathlib').Path('{marker}').touch() is None"]))

    evil = _tamper(good_pt2, tmp_path / "evil.pt2", edit)
    program = load_program(evil)
    program.module()(torch.zeros(2, 3, 16, 16))
    drawnet.draw_model(program)
    assert not marker.exists()
    torch.export.load(str(evil)).module()(torch.zeros(2, 3, 16, 16))
    assert marker.exists(), "torch runs guard code (dropping it matters)"


def test_output_spec_that_imports_a_module(
    good_pt2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch imports the module named by an enum key in a pytree spec.
    marker = tmp_path / "MARKER"
    (tmp_path / "planted_enum.py").write_text(
        f"{_marker_code(marker)}\nimport enum\nclass K(enum.Enum):\n    a = 'a'\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def edit(members: dict[str, bytes]) -> None:
        def plant(program: Any) -> None:
            sig = program["graph_module"]["module_call_graph"][0]["signature"]
            _, spec = json.loads(sig["out_spec"])
            key = {"__enum__": True, "fqn": "planted_enum:K", "name": "a"}
            sig["out_spec"] = json.dumps([1, {"type": "builtins.dict",
                                              "context": json.dumps([key]),
                                              "children_spec": [spec]}])
        _edit_json(members, "models/model.json", plant)

    evil = _tamper(good_pt2, tmp_path / "evil.pt2", edit)
    with pytest.raises(LoadError, match="spec"):
        load_program(evil)
    assert not marker.exists()
    torch.export.load(str(evil))
    assert marker.exists(), "torch imports modules named in specs"


@pytest.mark.parametrize("target", [
    "torch.os.system", "builtins.exec", "torch.ops.load_library", "torch.ops.import_module",
    "torch.ops.aten.__class__", "torch.ops.aten.add.__init__", "torch.ops.mylib.evil.default",
    "#planted:op", "torch.ops.aten.add.Tensor.__call__",
])
def test_unknown_call_targets_are_refused(good_pt2: Path, tmp_path: Path, target: str) -> None:
    def edit(members: dict[str, bytes]) -> None:
        _edit_json(members, "models/model.json",
                   lambda p: _nodes(p)[0].__setitem__("target", target))

    evil = _tamper(good_pt2, tmp_path / "evil.pt2", edit)
    with pytest.raises(UnsafeFileError, match="its program calls the operator"):
        load_program(evil)


def _raw_zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip from (name, stored bytes, method, crc, declared size): sizes may lie."""
    out = io.BytesIO()
    central = b""
    for name, data, method, crc, size in entries:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc,
                              len(data), size, len(raw), 0) + raw + data)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0,
                               crc, len(data), size, len(raw), 0, 0, 0, 0, 0, offset) + raw
    start = out.tell()
    out.write(central)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                          len(central), start, 0))
    return out.getvalue()


def _zeros_deflated(megabytes: int) -> bytes:
    """Raw deflate of ``megabytes`` MiB of zeros, made cheaply from one repeated block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * megabytes + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.parametrize("member", ["models/model.json", "data/sample_inputs/model.pt",
                                    "extra/notes.txt"])
@pytest.mark.parametrize("lie", [False, True], ids=["declared", "lying-header"])
def test_zip_bomb(good_pt2: Path, tmp_path: Path, member: str, lie: bool) -> None:
    root, members = _members(good_pt2)
    bomb = _zeros_deflated(2048)  # 2 GiB of zeros in about 2 MB
    entries = [(f"{root}/{n}", d, 0, zlib.crc32(d), len(d))
               for n, d in members.items() if n != member]
    declared = 4096 if lie else 2 << 30
    entries.insert(0 if member.startswith("models") else len(entries),
                   (f"{root}/{member}", bomb, 8, 0, declared))
    evil = tmp_path / "bomb.pt2"
    evil.write_bytes(_raw_zip(entries))
    before = _peak_rss()
    if lie and member.startswith("extra/"):
        load_program(evil)  # never read: drawing needs no extra files
    else:  # torch.export.load would read every member named here, extra files too
        with pytest.raises(DrawnetError, match=r"zip bomb|damaged|inflates"):
            load_program(evil)
    assert _peak_rss() - before < 200 << 20, "the bomb was inflated into memory"


def test_pickle_imports_reads_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(_Payload(_marker_code(marker)), protocol=protocol)
        if protocol < 2:
            with pytest.raises(ValueError, match="protocol 2"):
                pickle_imports(data)
        else:
            assert pickle_imports(data) == ["builtins.exec"]
    assert not marker.exists()
    with pytest.raises(ValueError, match="follow"):
        pickle_imports(pickle.dumps(1, protocol=2) + b"junk")


# --------------------------------------------------------------------------- real programs


def test_program_draws_from_its_stored_inputs(good_pt2: Path) -> None:
    program = load_program(good_pt2)
    d = drawnet.draw_model(program)
    shapes = {n.id: [t.shape for t in n.outputs] for n in d.graph.nodes}
    assert shapes["conv"] == [(2, 4, 14, 14)], shapes  # the stored batch of 2
    d = drawnet.draw_model(program, [5, 3, 16, 16])  # the batch is dynamic
    shapes = {n.id: [t.shape for t in n.outputs] for n in d.graph.nodes}
    assert shapes["conv"] == [(5, 4, 14, 14)], shapes
    with pytest.raises(drawnet.OptionError, match="train/eval mode"):
        drawnet.summary(program, mode="train")


def test_weights_are_not_read(good_pt2: Path, tmp_path: Path) -> None:
    # Weights get their shapes, dtypes and aliasing, not their bytes: a damaged payload
    # does not matter, and a large program loads in little memory.
    def edit(members: dict[str, bytes]) -> None:
        for name in members:
            if name.startswith("data/weights/weight_"):
                members[name] = b"\xff" * 3  # not even a whole float
    program = load_program(_tamper(good_pt2, tmp_path / "w.pt2", edit))
    weights = dict(program.state_dict)
    assert weights["conv.weight"].shape == (4, 3, 3, 3)
    assert weights["conv.weight"].device.type == "cpu"
    assert isinstance(weights["conv.weight"], nn.Parameter)


def _resident() -> int:
    """Bytes resident now (not the peak): what the process holds at this moment."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_big_program_loads_in_little_memory(tmp_path: Path) -> None:
    # 128 MiB of weights: loaded untouched, they never become resident.
    net = nn.Sequential(*[nn.Linear(4096, 4096, bias=False) for _ in range(2)])
    path = tmp_path / "big.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(1, 4096),)), str(path))
    del net
    before = _resident()
    program = load_program(path)
    grown = _resident() - before
    assert drawnet.summary(program).total_params == 2 * 4096 * 4096
    assert grown < 48 << 20, f"loading made {grown >> 20} MiB resident"


def _export_transformers(kind: str, folder: Path) -> Path:
    import transformers

    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 64}
    ids = torch.zeros(1, 8, dtype=torch.long)
    path = folder / f"{kind}.pt2"
    if kind == "bert":
        model = transformers.BertModel(transformers.BertConfig(**small)).eval()
        program = torch.export.export(model, (ids,))
    else:
        config = transformers.LlamaConfig(**small, num_key_value_heads=1)
        model = transformers.LlamaModel(config).eval()
        program = torch.export.export(model, (), {"input_ids": ids, "use_cache": False})
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="module")
def bert_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export_transformers("bert", tmp_path_factory.mktemp("bert"))


def test_transformers_programs_load_and_draw(bert_pt2: Path, tmp_path: Path) -> None:
    # torch cannot load these by itself unless transformers registered their output types.
    for path, root, outputs in (
        (bert_pt2, "BertModel", {"last_hidden_state", "pooler_output"}),
        (_export_transformers("llama", tmp_path), "LlamaModel", {"last_hidden_state"}),
    ):
        program = load_program(path)
        d = drawnet.draw_model(program, depth=None)
        classes = {n.class_name for n in d.graph.nodes}
        assert {"Linear", "Embedding"} <= classes, classes
        assert d.graph.get_meta("model") == root
        names = {n.id.removeprefix("output.") for n in d.graph.nodes if n.kind == "output"}
        assert names == outputs, names  # the model's output names survive


def test_cli_program_without_input_and_without_torch_noise(
    bert_pt2: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bert.svg"
    r = subprocess.run([sys.executable, "-m", "drawnet", "render", str(bert_pt2), "-o",
                        str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "torch's warnings reach the screen"
    assert out.read_bytes().lstrip().startswith(b"<?xml")


def test_refused_pickle_points_at_torch_export(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "whole.pt"
    torch.save(nn.Sequential(nn.Linear(2, 2)), saved)
    assert main(["render", str(saved), "-i", "1,2", "-o", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert "torch.export.save" in err
    assert "factory" in err
    assert "torch.jit.save" not in err
    assert err.count("\n") == 1


# --------------------------------------------------------------------------- save targets


@pytest.fixture(scope="module")
def diagram() -> drawnet.Diagram:
    return drawnet.draw_model(nn.Sequential(nn.Linear(4, 2)), [1, 4])


def test_save_writes_through_a_fifo(diagram: drawnet.Diagram, tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    diagram.save(fifo)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced by a file"
    assert got
    assert got[0].lstrip().startswith(b"<?xml")


def test_save_writes_through_a_device(diagram: drawnet.Diagram) -> None:
    null = Path(os.devnull)
    diagram.save(null, format="svg")
    assert stat.S_ISCHR(null.stat().st_mode)


def test_save_through_a_symlink_keeps_the_link(diagram: drawnet.Diagram, tmp_path: Path) -> None:
    target = tmp_path / "real.svg"
    target.write_text("old")
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    diagram.save(link)
    assert link.is_symlink(), "the symlink was replaced by a file"
    assert target.read_bytes().lstrip().startswith(b"<?xml")
    dangling = tmp_path / "dangling.svg"
    dangling.symlink_to(tmp_path / "missing" / "x.svg")
    with pytest.raises(OutputError, match="folder"):
        diagram.save(dangling)
    assert dangling.is_symlink()


def test_save_refuses_a_socket_or_none(diagram: drawnet.Diagram, tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.svg"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(OutputError, match="socket"):
            diagram.save(path)
    assert stat.S_ISSOCK(path.lstat().st_mode)
    with pytest.raises(drawnet.OptionError, match="path must be a file name"):
        diagram.save(None)  # type: ignore[arg-type]


def test_cli_output_to_a_fifo(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["summary", "torch.nn:Identity", "-i", "1,4", "--format", "csv",
                 "-o", str(fifo)]) == 0
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert got
    assert b"Identity" in got[0]
