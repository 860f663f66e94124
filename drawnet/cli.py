"""The ``drawnet`` command line.

``drawnet render SPEC --input 1,3,224,224 -o out.svg`` draws a model. SPEC names it:

- ``package.module:factory`` — a callable imported and called with no arguments
  (``torchvision.models:resnet18``), or an ``nn.Module`` instance at that name;
- ``path/to/file.py:factory`` — the same, from a Python file;
- ``model.pt2`` — a saved ``torch.export`` program; ``model.pt`` / ``.ts`` — a TorchScript
  archive (``torch.jit.save``). A whole pickled module is refused unless
  ``--trust-pickle`` is given, because unpickling can run arbitrary code.

User mistakes exit with status 2 and one line on stderr (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drawnet.errors import DrawnetError, InputError, OptionError

USAGE_ERROR = 2


class SpecError(DrawnetError, ValueError):
    """The SPEC naming the model cannot be resolved."""


def parse_shape(text: str) -> list[int]:
    """Parse ``1,3,224,224`` or ``1x3x224x224`` into a list of ints.

    Example:
        >>> parse_shape("1,3,224,224")
        [1, 3, 224, 224]
    """
    parts = [p for p in text.replace("x", ",").replace("×", ",").split(",") if p.strip()]
    try:
        shape = [int(p) for p in parts]
    except ValueError:
        raise InputError(f"--input {text!r} is not a shape like 1,3,224,224") from None
    if not shape:
        raise InputError(f"--input {text!r} is empty; give a shape like 1,3,224,224")
    return shape


def _call_factory(obj: Any, spec: str) -> Any:
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise SpecError(f"{spec!r} is a {type(obj).__name__}, not a model or a factory")
    try:
        return obj()
    except TypeError as e:
        raise SpecError(f"calling {spec!r} with no arguments failed: {e}") from e


def load_model(spec: str, *, trust_pickle: bool = False) -> Any:
    """Resolve a SPEC (see the module docstring) to an ``nn.Module``."""
    path_part, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if path_part.endswith(".py") or (not attr and spec.endswith(".py")):
        file = Path(path_part or spec)
        if not file.is_file():
            raise SpecError(f"no such file: {str(file)!r}")
        if not attr:
            raise SpecError(f"{spec!r} names a file but no factory: use {file}:make_model")
        mod_name = f"_drawnet_user_{file.stem}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, file)
        if loader_spec is None or loader_spec.loader is None:
            raise SpecError(f"cannot import {str(file)!r} as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.path.insert(0, str(file.resolve().parent))
        try:
            loader_spec.loader.exec_module(module)
        except Exception as e:
            raise SpecError(f"importing {str(file)!r} failed: {type(e).__name__}: {e}") from e
        finally:
            sys.path.remove(str(file.resolve().parent))
        if not hasattr(module, attr):
            raise SpecError(f"{str(file)!r} has no attribute {attr!r}")
        return _call_factory(getattr(module, attr), spec)
    if not attr and Path(spec).suffix in (".pt2", ".pt", ".pth", ".ts", ".ptl"):
        return _load_saved(Path(spec), trust_pickle=trust_pickle)
    if not attr:
        raise SpecError(
            f"cannot tell what {spec!r} is: use package.module:factory, file.py:factory, "
            "or a saved .pt2 / TorchScript file"
        )
    try:
        module = importlib.import_module(path_part)
    except Exception as e:
        raise SpecError(f"cannot import {path_part!r}: {type(e).__name__}: {e}") from e
    obj: Any = module
    for name in attr.split("."):
        if not hasattr(obj, name):
            raise SpecError(f"{path_part!r} has no attribute {attr!r}")
        obj = getattr(obj, name)
    return _call_factory(obj, spec)


def _load_saved(file: Path, *, trust_pickle: bool) -> Any:
    import torch

    if not file.is_file():
        raise SpecError(f"no such file: {str(file)!r}")
    if file.suffix == ".pt2":
        try:
            return torch.export.load(str(file)).module()
        except Exception as e:
            raise SpecError(f"cannot load {str(file)!r} as a torch.export program: {e}") from e
    try:
        return torch.jit.load(str(file), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as jit_error:
        if not trust_pickle:
            raise SpecError(
                f"{str(file)!r} is not a TorchScript archive; if it is a pickled nn.Module, "
                "loading it can run arbitrary code: pass --trust-pickle if you trust it"
            ) from jit_error
    try:
        obj = torch.load(str(file), map_location="cpu", weights_only=False)
    except Exception as e:
        raise SpecError(f"cannot load {str(file)!r}: {e}") from e
    if not isinstance(obj, torch.nn.Module):
        raise SpecError(
            f"{str(file)!r} holds a {type(obj).__name__}, not a model (a state dict needs the "
            "model's code: use package.module:factory)"
        )
    return obj


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC",
                   help="package.module:factory, path/to/file.py:factory, or a .pt2/.pt file")
    p.add_argument("--input", "-i", action="append", default=[], metavar="SHAPE",
                   help="an input shape such as 1,3,224,224 (repeat for several inputs)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE",
                   help="input dtype (float32, long, ...): once for all inputs or once each")
    p.add_argument("--tracer", default="auto", help="auto, meta, eager or jit")
    p.add_argument("--mode", default="eval", help="eval (default), train or same")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a whole pickled nn.Module (can run arbitrary code)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``drawnet``."""
    from drawnet import __version__

    parser = argparse.ArgumentParser(
        prog="drawnet", description="Draw PyTorch models as layer-level diagrams.")
    parser.add_argument("--version", action="version", version=f"drawnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("render", help="draw a model to .svg, .png, .pdf or .dot")
    _add_model_args(r)
    r.add_argument("-o", "--output", required=True, help="output file; format from suffix")
    r.add_argument("--format", default=None, help="svg, png, pdf or dot (default: suffix)")
    r.add_argument("--orientation", "--rankdir", default="LR", help="LR (default) or TB")
    r.add_argument("--depth", type=int, default=None, help="draw modules deeper than N as one box")
    r.add_argument("--no-clusters", action="store_true", help="do not frame module scopes")
    r.add_argument("--theme", default="default", help="default or print")
    r.add_argument("--title", default=None, help="a title above the diagram")
    r.add_argument("--engine", default="auto", help="Graphviz engine (see drawnet.render)")
    s = sub.add_parser("summary", help="print per-layer params, shapes and MACs (torchinfo-style)")
    _add_model_args(s)
    s.add_argument("--format", default="table", help="table (default), json, csv or markdown")
    s.add_argument("--depth", type=_summary_depth, default=3,
                   help="deepest row shown, or 'all' (default 3)")
    s.add_argument("--columns", default=None, metavar="COLS",
                   help="comma-separated: input_shape, output_shape, kernel, params, "
                        "params_percent, macs, flops, memory, trainable "
                        "(default output_shape,params,macs)")
    s.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    return parser


def _inputs(args: argparse.Namespace) -> tuple[Any, Any]:
    if not args.input:
        raise InputError("give at least one --input shape, e.g. --input 1,3,224,224")
    shapes = [parse_shape(s) for s in args.input]
    size: Any = shapes[0] if len(shapes) == 1 else shapes
    dtypes: Any = None
    if len(args.dtype) == 1:
        dtypes = args.dtype[0]
    elif args.dtype:
        if len(args.dtype) != len(shapes):
            raise OptionError(f"{len(args.dtype)} --dtype values for {len(shapes)} inputs")
        dtypes = args.dtype if len(shapes) > 1 else args.dtype[0]
    return size, dtypes


def _render(args: argparse.Namespace) -> int:
    from drawnet.api import draw_model

    model = load_model(args.spec, trust_pickle=args.trust_pickle)
    size, dtypes = _inputs(args)
    diagram = draw_model(
        model, size, dtypes=dtypes, orientation=args.orientation, tracer=args.tracer,
        depth=args.depth, clusters=not args.no_clusters, theme=args.theme, title=args.title,
        mode=args.mode, engine=args.engine,
    )
    out = diagram.save(args.output, format=args.format)
    boxes = sum(1 for n in diagram.graph.nodes if n.kind in ("module", "block"))
    print(f"wrote {out} ({boxes} layer boxes, tracer {diagram.tracer})")
    return 0


def _summary_depth(text: str) -> int | None:
    if text.strip().lower() in ("all", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'all'") from None


def _summary(args: argparse.Namespace) -> int:
    from drawnet.api import summary
    from drawnet.errors import choices
    from drawnet.summary import DEFAULT_COLUMNS, FORMATS

    if args.format not in FORMATS:
        raise choices(args.format, FORMATS, "format")
    model = load_model(args.spec, trust_pickle=args.trust_pickle)
    size, dtypes = _inputs(args)
    result = summary(model, size, dtypes=dtypes, depth=args.depth, tracer=args.tracer,
                     mode=args.mode, columns=args.columns or DEFAULT_COLUMNS)
    text = result.to_text(args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Example:
        >>> main(["render", "no.such.module:f", "--input", "1,3", "-o", "x.svg"])
        2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            return _render(args)
        if args.command == "summary":
            return _summary(args)
    except (DrawnetError, OSError) as e:
        if args.debug:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"drawnet: error: {message}", file=sys.stderr)
        return USAGE_ERROR
    parser.error(f"unknown command {args.command!r}")
    return USAGE_ERROR
