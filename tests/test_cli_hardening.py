"""The command line under misuse: one-line errors with status 2, and safe model loading.

User mistakes run in-process through ``drawnet.cli.main`` (fast); loading saved models and
the exit codes a shell sees run as a user would, in a subprocess (``python -m drawnet``).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from drawnet.cli import main

SMALL = "torch.nn:Identity"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drawnet", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def assert_one_line_error(stderr: str, fragment: str) -> None:
    """Exactly one line, ``drawnet: error: ...``, containing ``fragment``; no traceback."""
    lines = [line for line in stderr.splitlines() if not _is_torch_warning(line)]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("drawnet: error: "), stderr
    assert fragment in lines[0], stderr
    assert "Traceback" not in stderr


def _is_torch_warning(line: str) -> bool:
    # torch's own deprecation warnings (torch.jit.load) are not drawnet's output.
    return "Warning:" in line or line.startswith("  warnings.warn")


def no_leftovers(folder: Path, expected: set[str]) -> None:
    """Only ``expected`` in ``folder``: no output, no half-written temporary files."""
    assert {p.name for p in folder.iterdir()} == expected


# --------------------------------------------------------------------------- mistakes


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


_BROKEN_FORWARD = """
import torch
class Inner(torch.nn.Module):
    def forward(self, x):
        raise ValueError("my layer is broken\\nand says more")
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.block = torch.nn.Sequential(torch.nn.ReLU(), Inner())
    def forward(self, x):
        return self.block(self.fc(x))
def make():
    return Net()
"""

# (files to create in tmp_path, args before -o, fragment of the one-line message)
_MISTAKES: dict[str, tuple[dict[str, str], list[str], str]] = {
    "empty-spec": ({}, ["", "-i", "1,4"], "SPEC is empty"),
    "no-module": ({}, [":make", "-i", "1,4"], "names no module"),
    "no-factory": ({}, ["torchvision.models:", "-i", "1,4"], "names no factory"),
    "not-a-spec": ({}, ["resnet18", "-i", "1,4"], "cannot tell what 'resnet18' is"),
    "missing-saved-file": ({}, ["{tmp}/gone.pt2", "-i", "1,4"], "no such file"),
    "syntax-error": ({"bad.py": "def make(:\n"}, ["{tmp}/bad.py:make", "-i", "1,4"],
                     "SyntaxError"),
    "raises-on-import": ({"bad.py": "raise RuntimeError('no GPU here')\n"},
                         ["{tmp}/bad.py:make", "-i", "1,4"], "RuntimeError: no GPU here"),
    "exits-on-import": ({"bad.py": "import sys\nsys.exit('usage: train.py')\n"},
                        ["{tmp}/bad.py:make", "-i", "1,4"], "SystemExit: usage: train.py"),
    "folder-as-file": ({"pkg.py/": ""}, ["{tmp}/pkg.py:make", "-i", "1,4"], "is not a file"),
    "file-without-factory": ({"net.py": ""}, ["{tmp}/net.py", "-i", "1,4"],
                             "names a file but no factory"),
    "factory-raises": ({"net.py": "def make():\n    raise KeyError('weights')\n"},
                       ["{tmp}/net.py:make", "-i", "1,4"], "KeyError"),
    "factory-returns-int": ({"net.py": "def make():\n    return 3\n"},
                            ["{tmp}/net.py:make", "-i", "1,4"], "gave a int, not a torch.nn"),
    "not-callable": ({}, ["math:pi", "-i", "1,4"], "is a float, not a model"),
    "not-a-module-class": ({}, ["collections:OrderedDict", "-i", "1,4"],
                           "not an nn.Module class"),
    "class-needs-args": ({}, ["torch.nn:Linear", "-i", "1,4"], "with no arguments failed"),
    "bad-format": ({}, [SMALL, "-i", "1,4", "--format", "gif"], "unknown format: 'gif'"),
    "bad-theme": ({}, [SMALL, "-i", "1,4", "--theme", "neon"], "unknown theme"),
    "bad-dtype": ({}, [SMALL, "-i", "1,4", "--dtype", "complex"], "unknown dtype"),
    "bad-tracer": ({}, [SMALL, "-i", "1,4", "--tracer", "onnx"], "unknown tracer"),
    "bad-mode": ({}, [SMALL, "-i", "1,4", "--mode", "test"], "unknown mode"),
    "bad-engine": ({}, [SMALL, "-i", "1,4", "--engine", "neato"], "unknown engine"),
    "zero-depth": ({}, [SMALL, "-i", "1,4", "--depth", "0"], "depth must be a positive"),
    "zero-dimension": ({}, [SMALL, "-i", "1,0"], "must be positive"),
    "negative-dimension": ({}, [SMALL, "-i", "1,-3"], "must be positive"),
    "empty-input": ({}, [SMALL, "-i", ","], "is empty"),
    "bad-timeout": ({}, [SMALL, "-i", "1,4", "--timeout", "-1"], "timeout must be a positive"),
    "forward-raises": ({"net.py": _BROKEN_FORWARD}, ["{tmp}/net.py:make", "-i", "1,4"],
                       "block.1"),
}


@pytest.mark.parametrize("case", list(_MISTAKES))
def test_mistakes_exit_2_with_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, args, fragment = _MISTAKES[case]
    for name, text in files.items():
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            _write(tmp_path / name, text)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = ["render", *(a.replace("{tmp}", str(tmp_path)) for a in args),
            "-o", str(out_dir / "x.svg")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, fragment)
    if case == "forward-raises":
        # the first line of the message, then where the model's code raised it
        assert "ValueError: my layer is broken; raised by the model's own code at" in captured.err
        assert "net.py line 5 (raise ValueError(" in captured.err
    no_leftovers(out_dir, set())


@pytest.mark.parametrize(
    "args", [["--depth", "deep"], ["--timeout", "soon"], ["--nope"], []],
    ids=["depth-not-a-number", "timeout-not-a-number", "unknown-flag", "no-output"],
)
def test_argument_errors_are_one_line(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = [] if not args else ["-o", str(tmp_path / "x.svg")]
    with pytest.raises(SystemExit) as info:
        main(["render", SMALL, "-i", "1,4", *out, *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "--help")


@pytest.mark.parametrize("target", ["file-in-the-way", "folder", "readonly-folder"])
def test_unwritable_output_exits_2_before_tracing(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import drawnet.api

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was drawn before the output was checked")

    if target == "file-in-the-way":
        _write(tmp_path / "plain", "")
        out, fragment = tmp_path / "plain" / "x.svg", "is not a folder"
    elif target == "folder":
        (tmp_path / "pic.svg").mkdir()
        out, fragment = tmp_path / "pic.svg", "is a folder"
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):  # root ignores permissions: use a folder nobody can
            folder = Path("/sys")        # write, not even root (sysfs refuses new files)
            if not folder.is_dir() or _can_create(folder):
                pytest.skip("no folder here that this user cannot write to")
        out, fragment = folder / "x.svg", "cannot save to"
    if target != "readonly-folder":
        monkeypatch.setattr(drawnet.api, "draw_model", never)
    assert main(["render", SMALL, "-i", "1,4", "-o", str(out)]) == 2
    assert_one_line_error(capsys.readouterr().err, fragment)
    assert not out.is_file()


def _can_create(folder: Path) -> bool:
    probe = folder / ".drawnet-probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


def test_render_timeout_exits_2_and_keeps_dot(tmp_path: Path) -> None:
    out = tmp_path / "r.svg"
    r = run("render", "torchvision.models:resnet18", "-i", "1,3,64,64", "--depth", "all",
            "--timeout", "0.001", "-o", str(out))
    assert r.returncode == 2, r.stderr
    assert_one_line_error(r.stderr, "timed out")
    found = re.search(r"(?:kept in|written to) (\S+\.gv)", r.stderr)
    assert found, r.stderr
    kept = Path(found[1])
    try:
        assert kept.read_text(encoding="utf-8").startswith("digraph")
    finally:
        kept.unlink()
    no_leftovers(tmp_path, set())


def test_debug_shows_the_traceback_of_a_model_error(tmp_path: Path) -> None:
    _write(tmp_path / "net.py", _BROKEN_FORWARD)
    r = run("render", f"{tmp_path / 'net.py'}:make", "-i", "1,4", "-o",
            str(tmp_path / "x.svg"), "--debug")
    assert r.returncode == 2
    assert "Traceback" in r.stderr
    assert "ValueError: my layer is broken" in r.stderr


def test_unexpected_error_is_one_line_with_status_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import drawnet.api

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setattr(drawnet.api, "draw_model", bug)
    assert main(["render", SMALL, "-i", "1,4", "-o", str(tmp_path / "x.svg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("drawnet: internal error: AttributeError")
    assert "--debug" in err


def test_summary_output_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "plain", "")
    assert main(["summary", SMALL, "-i", "1,4", "-o", str(tmp_path / "plain" / "s.txt")]) == 2
    assert_one_line_error(capsys.readouterr().err, "is not a folder")


# --------------------------------------------------------------------------- saved models


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(
            torch.relu(self.conv(x)), 1), 1))


X = torch.zeros(1, 3, 16, 16)


def _marker_payload(marker: Path) -> Any:
    """An object whose unpickling creates ``marker``: what a malicious file does."""

    class Payload:
        def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    return Payload()


def _evil_pt2(path: Path, marker: Path) -> Path:
    """A genuine torch.export archive whose example inputs are a malicious pickle
    (torch.export.load falls back to full unpickling for them)."""
    good = path.with_name("good.pt2")
    torch.export.save(torch.export.export(Small().eval(), (X,)), str(good))
    buf = io.BytesIO()
    torch.save(_marker_payload(marker), buf)
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("sample_inputs/model.pt"):
                data = buf.getvalue()
            zout.writestr(info, data)
    good.unlink()
    return path


def _saved(kind: str, folder: Path) -> Path:
    model = Small().eval()
    if kind == "script":
        path = folder / "small.pt"
        torch.jit.save(torch.jit.script(model), str(path))  # type: ignore[no-untyped-call]
    elif kind == "jit-trace":
        path = folder / "small.ts"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.trace is deprecated
            traced = torch.jit.trace(model, X)  # type: ignore[no-untyped-call]
        torch.jit.save(traced, str(path))  # type: ignore[no-untyped-call]
    elif kind == "export":
        path = folder / "small.pt2"
        torch.export.save(torch.export.export(model, (X,)), str(path))
    elif kind == "state-dict":
        path = folder / "small.pth"
        torch.save(model.state_dict(), path)
    elif kind == "checkpoint":
        path = folder / "ckpt.pt"
        torch.save({"model": model.state_dict(), "epoch": 3, "lr": 0.1}, path)
    elif kind == "pickled-module":
        path = folder / "whole.pt"
        torch.save(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), path)
    else:
        raise AssertionError(kind)
    return path


def _svg_text(path: Path) -> str:
    root = ET.fromstring(path.read_bytes())
    return " ".join(el.text or "" for el in root.iter() if el.tag.endswith("}text"))


@pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:FutureWarning")
@pytest.mark.parametrize("kind", ["script", "jit-trace"])
def test_torchscript_archive_loads_but_is_refused_clearly(kind: str, tmp_path: Path) -> None:
    # A TorchScript archive loads safely (torch.jit.load runs no Python code), but its
    # layers run inside the TorchScript interpreter, where no hook or torch function mode
    # sees them: drawnet says so and points at the alternatives instead of drawing nonsense.
    saved = _saved(kind, tmp_path)
    out = tmp_path / "small.svg"
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(out))
    assert r.returncode == 2, r.stderr
    assert_one_line_error(r.stderr, "TorchScript module")
    assert "draw the Python nn.Module it was made from" in r.stderr
    assert not out.exists()


def test_export_archive_is_drawn(tmp_path: Path) -> None:
    saved = _saved("export", tmp_path)
    out = tmp_path / "small.svg"
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "1×4×14×14" in _svg_text(out)
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(out), "--mode", "train")
    assert r.returncode == 2
    assert_one_line_error(r.stderr, "keeps the train/eval mode")


def test_export_archive_boxes_name_the_modules(tmp_path: Path) -> None:
    saved = _saved("export", tmp_path)
    out = tmp_path / "small.svg"
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "2 layer boxes" in r.stdout, (
        "a .pt2 program draws its ops at the root, not in conv/fc boxes: the meta tracer "
        "cannot see module calls in an unlifted torch.export module; drawnet/trace should "
        f"read node.meta['nn_module_stack'] (see report). stdout: {r.stdout.strip()}"
    )


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [("state-dict", "holds a state dict (4 tensors)"), ("checkpoint", "holds a dict")],
)
@pytest.mark.parametrize("trust", [False, True])
def test_weights_alone_are_refused_with_a_hint(
    kind: str, fragment: str, trust: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = _saved(kind, tmp_path)
    argv = ["render", str(saved), "-i", "1,3,16,16", "-o", str(tmp_path / "x.svg"),
            *(["--trust-pickle"] if trust else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, fragment)
    assert "factory" in err
    assert not (tmp_path / "x.svg").exists()


def test_pickled_module_needs_trust_pickle(tmp_path: Path) -> None:
    saved = _saved("pickled-module", tmp_path)
    out = tmp_path / "x.svg"
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(out))
    assert r.returncode == 2
    assert_one_line_error(r.stderr, "--trust-pickle")
    assert "holds a pickled torch.nn.modules.container.Sequential" in r.stderr
    assert "arbitrary code" in r.stderr
    assert not out.exists()
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(out), "--trust-pickle")
    assert r.returncode == 0, r.stderr
    assert "Conv2d" in _svg_text(out)


@pytest.mark.parametrize("kind", ["pickle", "pt2"])
def test_malicious_files_are_not_run(kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    if kind == "pickle":
        saved = tmp_path / "model.pt"
        torch.save(_marker_payload(marker), saved)
    else:
        saved = _evil_pt2(tmp_path / "model.pt2", marker)
    r = run("render", str(saved), "-i", "1,3,16,16", "-o", str(tmp_path / "x.svg"))
    assert r.returncode == 2
    assert_one_line_error(r.stderr, "--trust-pickle")
    assert not marker.exists(), "loading the file ran code from it"
    # The payload is live: trusting the file runs it (so the refusal above is what saved us).
    run("render", str(saved), "-i", "1,3,16,16", "-o", str(tmp_path / "x.svg"),
        "--trust-pickle")
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty"), (b"\x00garbage" * 10, "cannot load"),
     (b"PK\x03\x04broken zip", "damaged archive")],
    ids=["empty", "garbage", "broken-zip"],
)
def test_unreadable_saved_files(
    content: bytes, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "model.pt"
    saved.write_bytes(content)
    assert main(["render", str(saved), "-i", "1,4", "-o", str(tmp_path / "x.svg")]) == 2
    assert_one_line_error(capsys.readouterr().err, fragment)
