"""The command line as a shell user meets it, each case in a subprocess (``python -m drawnet``).

Options are checked before torch is imported, ``-o -`` writes to a pipe, a closed pipe
ends quietly, misspelt SPECs get a "did you mean", ``--debug`` keeps the exit status, an
error in the model's own ``forward`` points at its file and line, and long draws show
their progress on stderr.

Cases that never reach torch take a fraction of a second; the ones that draw share tiny
models (``torch.nn:Identity``, a two-line file) to stay quick.
"""

from __future__ import annotations

import os
import pty
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

SMALL = "torch.nn:Identity"


def run(*args: str, cwd: Path | None = None, importtime: bool = False,
        **kw: object) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "drawnet", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd, check=False,
                          **kw)  # type: ignore[call-overload]


def imported(stderr: str) -> set[str]:
    """Top-level packages that ``-X importtime`` reports as imported."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            out.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return out


def messages(stderr: str) -> list[str]:
    """stderr without ``-X importtime`` lines."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


# ------------------------------------------------------------------- before torch is imported

BEFORE_TORCH = {
    "orientation": (["--orientation", "XY"], "unknown orientation: 'XY' (must be one of"),
    "theme": (["--theme", "neon"], "unknown theme: 'neon'"),
    "tracer": (["--tracer", "onnx"], "unknown tracer: 'onnx'"),
    "color-by": (["--color-by", "size"], "unknown color-by: 'size'"),
    "engine": (["--engine", "neato"], "unknown engine: 'neato'"),
    "dtype": (["--dtype", "complex"], "unknown dtype: 'complex'"),
    "shape": (["--input", "1,-3"], "dimension -3 must be positive"),
    "depth": (["--depth", "0"], "--depth must be a positive whole number"),
    "timeout": (["--timeout", "0"], "--timeout must be a positive number"),
    "format-vs-suffix": (["--format", "svg", "-o", "{tmp}/x.png"],
                         "--format svg disagrees with the suffix of '{tmp}/x.png' (png)"),
    "format-vs-gv": (["--format", "PDF", "-o", "{tmp}/x.gv"],
                     "--format pdf disagrees with the suffix of '{tmp}/x.gv' (dot)"),
    "unknown-suffix": (["-o", "{tmp}/x.gif"], "unknown format: 'gif'"),
}


@pytest.mark.parametrize("case", list(BEFORE_TORCH))
def test_bad_options_are_reported_before_torch_is_imported(case: str, tmp_path: Path) -> None:
    args, message = BEFORE_TORCH[case]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = [] if "-o" in args else ["-o", str(tmp_path / "x.svg")]
    r = run("render", "torchvision.models:resnet18", "--input", "1,3,224,224", *args, *out,
            importtime=True)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = messages(r.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("drawnet: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in lines[0]
    assert "torch" not in imported(r.stderr)
    assert "torchvision" not in imported(r.stderr)
    assert list(tmp_path.iterdir()) == []


def test_summary_format_and_suffix_must_agree(tmp_path: Path) -> None:
    r = run("summary", SMALL, "-i", "1,4", "--format", "csv", "-o", str(tmp_path / "s.md"),
            importtime=True)
    assert r.returncode == 2
    assert messages(r.stderr) == [
        f"drawnet: error: --format csv disagrees with the suffix of '{tmp_path}/s.md' "
        "(markdown): make them agree (s.csv), or drop --format"]
    assert "torch" not in imported(r.stderr)


@pytest.mark.parametrize("args", [["--help"], ["render", "--help"], ["summary", "--help"]])
def test_help_does_not_import_torch(args: list[str]) -> None:
    r = run(*args, importtime=True)
    assert r.returncode == 0
    assert "--progress" in r.stdout or args == ["--help"]
    assert "torch" not in imported(r.stderr)


def test_the_package_loads_its_names_on_first_use() -> None:
    # `drawnet --help` must not pay for the drawing stack; users still see every name, and
    # drawnet.summary stays the function when the submodule of that name is imported.
    script = (
        "import sys, drawnet\n"
        "print(sorted(m for m in sys.modules if m.startswith('drawnet')))\n"
        "import drawnet.summary\n"
        "from drawnet.summary import Summary\n"
        "print(callable(drawnet.summary), drawnet.Summary is Summary, drawnet.ir.__name__)\n"
        "print(all(hasattr(drawnet, n) for n in drawnet.__all__), 'torch' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["['drawnet']", "True True drawnet.ir", "True False"]


def test_binary_output_is_not_written_to_a_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "drawnet", "render", SMALL, "-i", "1,4",
                            "--format", "png", "-o", "-"], stdout=follower,
                           stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(follower)
        os.close(leader)
    assert r.returncode == 2
    assert r.stderr.startswith("drawnet: error: not writing PNG bytes to a terminal")


# --------------------------------------------------------------------------- did you mean


def test_misspelt_top_level_module_is_suggested() -> None:
    r = run("render", "torchvison.models:resnet18", "-i", "1,3,224,224", "-o", "x.svg")
    assert r.returncode == 2
    assert "No module named 'torchvison'" in r.stderr
    assert "(did you mean 'torchvision'" in r.stderr


def test_misspelt_submodule_is_suggested() -> None:
    r = run("render", "collections.abcc:Sequence", "-i", "1,4", "-o", "x.svg")
    assert r.returncode == 2
    assert "(did you mean 'collections.abc'?)" in r.stderr


def test_misspelt_factory_is_suggested(tmp_path: Path) -> None:
    r = run("render", "torchvision.models:resnet1", "--input", "1,3,224,224",
            "-o", str(tmp_path / "x.svg"))
    assert r.returncode == 2
    assert r.stderr.startswith("drawnet: error: 'torchvision.models' has no attribute "
                               "'resnet1' (did you mean 'resnet18'")
    assert r.stderr.count("\n") == 1


_FACTORIES = """
def make(width=8):
    import torch
    return torch.nn.Linear(width, 2)

def make_wide():
    return make(64)

def helper(x):
    return x

class Config:
    pass
"""


@pytest.mark.parametrize(("spec", "message"), [
    ("net.py:mak", "'net.py' has no attribute 'mak' (did you mean 'make'"),
    ("net.py", "'net.py' names a file but no factory: use net.py:make "
               "(it defines make, make_wide)"),
])
def test_file_factories_are_listed(spec: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(_FACTORIES, encoding="utf-8")
    r = run("render", spec, "-i", "1,8", "-o", "x.svg", cwd=tmp_path, importtime=True)
    assert r.returncode == 2
    (line,) = messages(r.stderr)
    assert message in line
    assert line.endswith("it defines make, make_wide") or line.endswith("make_wide)")
    assert "torch" not in imported(r.stderr)  # the factories were listed, not called


# ------------------------------------------------------------------------------- --debug


@pytest.mark.parametrize("args", [
    ["no_such_pkg:f", "-i", "1,3"],
    [SMALL, "-i", "1,4", "--orientation", "XY"],
])
def test_debug_shows_the_traceback_and_keeps_status_2(args: list[str], tmp_path: Path) -> None:
    r = run("render", *args, "-o", str(tmp_path / "x.svg"), "--debug")
    assert r.returncode == 2, r.stderr
    assert "Traceback (most recent call last)" in r.stderr
    assert r.stderr.splitlines()[-1].startswith("drawnet: error: ")


# ------------------------------------------------------------------------------ -o -


def test_render_to_a_pipe_prints_the_svg_head(tmp_path: Path) -> None:
    # The acceptance check, through a real pipe into `head`, which closes it early.
    command = (f"{shlex.quote(sys.executable)} -m drawnet render torchvision.models:resnet18 "
               "--input 1,3,224,224 -o - | head -c 5; echo \" ${PIPESTATUS[0]}\" >&2")
    r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, check=False)
    assert r.stdout in ("<?xml", "<svg "), r.stdout
    status = r.stderr.split()[-1]
    assert status in ("0", "141"), r.stderr  # 141: head closed the pipe before the end
    assert "Traceback" not in r.stderr
    assert "BrokenPipe" not in r.stderr
    if status == "0":
        assert "wrote SVG to stdout" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_png_bytes_to_stdout_with_options_in_any_case(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "drawnet", "render", SMALL, "-i", "1,4", "--format", "PNG",
         "--orientation", "tb", "--theme", "Print", "--tracer", "META", "--mode", "Eval",
         "--color-by", "MACS", "--engine", "Auto", "-o", "-"],
        capture_output=True, timeout=300, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    assert r.stdout.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")  # nothing after the image
    assert b"wrote PNG to stdout (1 layer boxes, tracer meta)" in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "starts"), [("s.json", "{"), ("s.md", "|"), ("s.txt", "=")])
def test_summary_format_follows_the_suffix(name: str, starts: str, tmp_path: Path) -> None:
    from drawnet.cli import main  # in-process: the subprocess cases above cover the shell

    assert main(["summary", SMALL, "-i", "1,4", "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / name).read_text(encoding="utf-8").startswith(starts)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drawnet", "summary", SMALL, "-i", "1,4", "-o", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None
    proc.stdout.close()  # nobody reads: the first write fails with EPIPE
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 141, err
    assert err == b""


# ---------------------------------------------------------------- errors in the model's code

_BUGGY = """\
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return y + scale  # a NameError: never defined

    def check(self, x):
        assert x.shape[0] == 2, "this model needs a batch of 2"
        return self.fc(x)


class Checked(Net):
    def forward(self, x):
        return self.check(x)


def make():
    return Net()


def make_checked():
    return Checked()
"""


@pytest.mark.parametrize(("factory", "tracer", "cause", "line"), [
    ("make", "auto", "NameError: name 'scale' is not defined", 11),
    ("make_checked", "eager", "AssertionError: this model needs a batch of 2", 14),
])
def test_error_in_the_models_forward_points_at_its_code(
    factory: str, tracer: str, cause: str, line: int, tmp_path: Path
) -> None:
    (tmp_path / "buggy.py").write_text(_BUGGY, encoding="utf-8")
    r = run("render", f"buggy.py:{factory}", "-i", "1,4", "--tracer", tracer, "-o", "x.svg",
            cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr
    assert cause in r.stderr
    assert f"raised by the model's own code at buggy.py line {line}" in r.stderr
    assert "check the input shapes" not in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ progress

_SLOW = """\
import time

import torch


class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        time.sleep(2.2)
        return self.fc(x)


def make():
    return Slow()
"""


def test_a_slow_draw_shows_its_progress_on_stderr_only(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(_SLOW, encoding="utf-8")
    r = run("render", "slow.py:make", "-i", "1,4", "-o", "-", "--progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<?xml")
    assert r.stdout.rstrip().endswith("</svg>")
    assert "drawnet:" not in r.stdout
    lines = r.stderr.splitlines()
    stages = [line.split("…")[0] for line in lines if "…" in line]
    # not a terminal: one line per stage once 2 s have passed (the trace alone takes 2.2 s)
    assert "drawnet: tracing the model" in stages or "drawnet: loading the model" in stages
    assert stages[-3:] == ["drawnet: building layers", "drawnet: laying out",
                           "drawnet: rendering SVG"]
    assert any(line.startswith("drawnet: done in ") for line in lines)
    assert lines[-1] == "wrote SVG to stdout (1 layer boxes, tracer meta)"
    assert "\r" not in r.stderr


def test_progress_is_on_by_default_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(_SLOW, encoding="utf-8")
    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "drawnet", "summary", "slow.py:make",
                            "-i", "1,4"], stdout=subprocess.PIPE, stderr=follower, text=True,
                           timeout=300, cwd=tmp_path, check=False)
        os.close(follower)
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(leader)
    assert r.returncode == 0, screen
    assert "Slow" in r.stdout
    assert "drawnet" not in r.stdout
    text = screen.decode("utf-8")
    assert "\rdrawnet: tracing the model… " in text  # one line, rewritten in place
    assert text.endswith("\r")  # and wiped at the end: the terminal is left clean
    assert text.replace("\r", "").strip(" ").count("\n") == 0
