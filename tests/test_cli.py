"""The command line, run as a user would: in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drawnet", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_render_resnet18_to_svg(tmp_path: Path) -> None:
    out = tmp_path / "resnet18.svg"
    r = run("render", "torchvision.models:resnet18", "--input", "1,3,224,224", "-o", str(out))
    assert r.returncode == 0, r.stderr
    root = ET.fromstring(out.read_bytes())
    assert root.tag.endswith("svg")
    assert "layer4" in out.read_text()
    assert "wrote" in r.stdout


def test_render_file_spec_tb_png(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Embedding(100, 8), torch.nn.Linear(8, 2))\n"
    )
    out = tmp_path / "net.png"
    r = run("render", f"{tmp_path / 'net.py'}:make", "--input", "1,5", "--dtype", "long",
            "--orientation", "TB", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_pkg.models:f", "--input", "1,3"], "cannot import 'no_such_pkg.models'"),
        (["missing.py:f", "--input", "1,3"], "no such file"),
        (["torchvision.models:nope", "--input", "1,3"], "has no attribute 'nope'"),
        (["torchvision.models:resnet18", "--input", "1,3,a"], "is not a shape"),
        (["torchvision.models:resnet18"], "--input 1,3,224,224"),
        (["torchvision.models:resnet18", "--input", "1,3,64,64", "--orientation", "XY"],
         "unknown orientation"),
        (["torchvision.models:resnet18", "--input", "1,3,64"], "conv1 · Conv2d"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = run("render", *args, "-o", str(tmp_path / "x.svg"))
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.svg").exists()


def test_unknown_output_format(tmp_path: Path) -> None:
    r = run("render", "torchvision.models:alexnet", "--input", "1,3,224,224",
            "-o", str(tmp_path / "x.gif"))
    assert r.returncode == 2
    assert "unknown format: 'gif'" in r.stderr


def test_missing_output_folder(tmp_path: Path) -> None:
    r = run("render", "torchvision.models:alexnet", "--input", "1,3,224,224",
            "-o", str(tmp_path / "nope" / "x.svg"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr


def test_import_error_in_user_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import not_a_module_anywhere\n")
    r = run("render", f"{tmp_path / 'bad.py'}:make", "--input", "1,3", "-o",
            str(tmp_path / "x.svg"))
    assert r.returncode == 2
    assert "ModuleNotFoundError" in r.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    r = run("render", "no_such_pkg:f", "--input", "1,3", "-o", str(tmp_path / "x.svg"),
            "--debug")
    assert r.returncode == 2  # a user error keeps its status with --debug
    assert "Traceback" in r.stderr


def test_help_and_version() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "render" in r.stdout
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("drawnet ")
