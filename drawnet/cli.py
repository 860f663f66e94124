"""The ``drawnet`` command line.

``drawnet render SPEC --input 1,3,224,224 -o out.svg`` draws a model. SPEC names it:

- ``package.module:factory`` — a callable imported and called with no arguments
  (``torchvision.models:resnet18``), or an ``nn.Module`` instance at that name;
- ``path/to/file.py:factory`` — the same, from a Python file;
- ``model.pt2`` — a saved ``torch.export`` program; ``model.pt`` / ``.ts`` — a TorchScript
  archive (``torch.jit.save``);
- ``hf:<repo id or folder>`` — a transformers model built on the meta device from its
  config alone (``--task`` picks the head); ``timm:<name>`` — a timm model, likewise (see
  :mod:`drawnet.trace.hub`).

Without ``--input``, the inputs are inferred from the model's config (transformers,
timm): see :mod:`drawnet.trace.infer`; ``--seq-len`` sets the number of tokens.

Inputs are shapes (``--input 1,3,224,224``, once per positional input, with ``--dtype``),
or, for lists and dicts of tensors and keyword inputs, ``--inputs FILE.py:NAME`` (see
:mod:`drawnet.inputfile`). ``render --partial`` writes how far a failed trace got.

Saved files are loaded without running code from them (see :mod:`drawnet.loaders`): a
``.pt2`` archive is rebuilt from the members a program needs, each checked, before
``torch.export.load`` sees it, and a ``torch.save`` file is read with
``weights_only=True``. A state dict is refused with a hint (the picture needs the model's
code: name its factory), and a whole pickled module, or a ``.pt2`` holding pickled
objects or native code, is refused unless ``--trust-pickle`` is given, because loading
them can run arbitrary code. A ``.pt2`` program is drawn from the example inputs stored
in it when no ``--input`` is given.

Options are checked before torch is imported (:mod:`drawnet.cli_checks`), in any case
(``--orientation tb``). ``-o -`` writes the diagram (or the summary) to stdout, and the
``wrote ...`` line then goes to stderr; ``--format`` and the suffix of ``-o`` must agree.
Progress goes to stderr only (:mod:`drawnet.progress`).

Exit status: 0 on success; 2 with one line on stderr for anything the user can fix (a bad
SPEC, option or input shape, a model that fails, a render or output problem); 1 for an
unexpected error inside drawnet; 130 when interrupted; 141, silently, when the reader of
stdout goes away (``| head``). ``--debug`` adds the traceback and keeps the status.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from drawnet.errors import DrawnetError, InputError, OptionError, TraceError
from drawnet.quiet import quiet_torch

USAGE_ERROR = 2
SAVED_SUFFIXES = (".pt2", ".pt", ".pth", ".ts", ".ptl", ".bin", ".ckpt", ".tar")
"""Suffixes of saved models and weights SPEC may name on its own (no ``:factory``)."""


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
    for d in shape:
        if d <= 0:
            raise InputError(f"--input {text!r}: dimension {d} must be positive "
                             "(use 1 for the batch dimension)")
    return shape


def _call_factory(obj: Any, spec: str) -> Any:
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, type) and not issubclass(obj, torch.nn.Module):
        raise SpecError(f"{spec!r} is the class {obj.__name__}, not an nn.Module class")
    if not callable(obj):
        raise SpecError(f"{spec!r} is a {type(obj).__name__}, not a model or a factory")
    try:
        model = obj()
    except (Exception, SystemExit) as e:
        raise SpecError(f"calling {spec!r} with no arguments failed: {_cause(e)}") from e
    if not isinstance(model, torch.nn.Module):
        raise SpecError(
            f"calling {spec!r} gave a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def _cause(e: BaseException) -> str:
    """``Type: first line`` of an exception, for one-line messages."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def load_model(spec: str, *, trust_pickle: bool = False) -> Any:
    """Resolve a SPEC (see the module docstring) to an ``nn.Module``.

    Raises :class:`SpecError` (a ``ValueError``) with a one-line reason when it cannot,
    and :class:`~drawnet.errors.UnsafeFileError` for a pickled model without
    ``trust_pickle``.

    Example:
        >>> load_model("torch.nn:Identity")
        Identity()
        >>> load_model("torch.nn:nope")
        Traceback (most recent call last):
        ...
        drawnet.cli.SpecError: 'torch.nn' has no attribute 'nope'
    """
    if not spec.strip():
        raise SpecError("SPEC is empty: use package.module:factory, file.py:factory, "
                        "or a saved .pt2 / TorchScript file")
    if Path(spec).suffix.lower() != ".py" and Path(spec).is_file():  # even "C:" paths
        from drawnet.loaders import load_saved

        return load_saved(Path(spec), trust_pickle=trust_pickle)
    path_part, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if path_part.endswith(".py") or (not attr and spec.endswith(".py")):
        return _load_from_file(Path(path_part or spec), attr, spec)
    if not attr and (Path(spec).suffix.lower() in SAVED_SUFFIXES or Path(spec).is_file()):
        from drawnet.loaders import load_saved

        return load_saved(Path(spec), trust_pickle=trust_pickle)
    if not attr:
        if ":" in spec:
            raise SpecError(f"{spec!r} names no factory after ':': use {path_part}:make_model")
        raise SpecError(
            f"cannot tell what {spec!r} is: use package.module:factory, file.py:factory, "
            "or a saved .pt2 / TorchScript file"
        )
    if not path_part:
        raise SpecError(f"{spec!r} names no module before ':': use package.module:{attr}")
    from drawnet import cli_checks

    try:
        module = importlib.import_module(path_part)
    except (Exception, SystemExit) as e:
        hint = cli_checks.missing_module(path_part, e) if isinstance(
            e, ModuleNotFoundError) else ""
        raise SpecError(f"cannot import {path_part!r}: {_cause(e)}{hint}") from e
    obj: Any = module
    for name in attr.split("."):
        if not hasattr(obj, name):
            raise SpecError(cli_checks.missing_attribute(repr(path_part), obj, name, attr))
        obj = getattr(obj, name)
    return _call_factory(obj, spec)


def _load_from_file(file: Path, attr: str, spec: str) -> Any:
    if not file.exists():
        raise SpecError(f"no such file: {str(file)!r}")
    if not file.is_file():
        raise SpecError(f"{str(file)!r} is not a file")
    from drawnet import cli_checks

    if not attr:
        found = cli_checks.file_factories(None, file)
        raise SpecError(f"{spec!r} names a file but no factory: use {file}:"
                        f"{found[0] if found else 'make_model'} ({cli_checks.defines(found)})")
    mod_name = f"_drawnet_user_{file.stem}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, file)
    if loader_spec is None or loader_spec.loader is None:
        raise SpecError(f"cannot import {str(file)!r} as Python")
    module = importlib.util.module_from_spec(loader_spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as e:
        raise SpecError(f"{str(file)!r} line {e.lineno}: SyntaxError: {e.msg}") from e
    except (Exception, SystemExit) as e:
        raise SpecError(f"importing {str(file)!r} failed: {_cause(e)}") from e
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    obj: Any = module
    for name in attr.split("."):
        if not hasattr(obj, name):
            raise SpecError(cli_checks.missing_in_file(repr(str(file)), module, file, name,
                                                       attr) if obj is module else
                            cli_checks.missing_attribute(repr(str(file)), obj, name, attr))
        obj = getattr(obj, name)
    return _call_factory(obj, spec)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``drawnet: error: ...`` and status 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        line = message.strip().splitlines()[0] if message.strip() else "bad arguments"
        self.exit(USAGE_ERROR, f"drawnet: error: {line} (see {self.prog} --help)\n")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC",
                   help="package.module:factory, path/to/file.py:factory, a .pt2/.pt file, "
                        "hf:<repo id or folder> or timm:<name>")
    p.add_argument("--input", "-i", action="append", default=[], metavar="SHAPE",
                   help="an input shape such as 1,3,224,224 (repeat for several inputs; "
                        "optional for a .pt2, which stores example inputs)")
    p.add_argument("--inputs", default=None, metavar="FILE.py:NAME",
                   help="inputs from Python instead of --input shapes: NAME (or what "
                        "calling it gives) is input_data, or an (args, kwargs) pair; for "
                        "lists or dicts of tensors (e.g. detection models)")
    p.add_argument("--dtype", action="append", default=[], metavar="DTYPE",
                   help="input dtype (float32, long, ...): once for all inputs or once each")
    p.add_argument("--task", default=None,
                   help="hf: specs: the head to build (causal-lm, seq-classification, ..., "
                        "or base); default: the architecture the config names")
    p.add_argument("--seq-len", type=int, default=None, metavar="N",
                   help="tokens per sequence when the inputs are inferred (default 128)")
    p.add_argument("--tracer", default="auto", help="auto (default), meta, export, eager or jit")
    p.add_argument("--mode", default="eval", help="eval (default), train or same")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a whole pickled nn.Module (can run arbitrary code)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the stage and time on stderr when it takes over 2 s "
                        "(default: when stderr is a terminal)")
    p.add_argument("--debug", action="store_true",
                   help="show full tracebacks (the exit status stays the same)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``drawnet``."""
    from drawnet import __version__

    parser = _Parser(
        prog="drawnet", description="Draw PyTorch models as layer-level diagrams.")
    parser.add_argument("--version", action="version", version=f"drawnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    r = sub.add_parser("render", help="draw a model to .svg, .png, .pdf, .dot or an "
                                        "interactive .html")
    _add_model_args(r)
    r.add_argument("-o", "--output", required=True,
                   help="output file (format from its suffix), or - for standard output")
    r.add_argument("--format", default=None,
                   help="svg, png, pdf, dot, html (the interactive view) or json (its data) "
                        "(default: from the suffix; svg for -o -)")
    r.add_argument("--orientation", "--rankdir", default=None,
                   help="LR or TB (default: LR, or on a page or column whichever fits)")
    r.add_argument("--fit", default="notebook",
                   help="where the picture goes: notebook (default: a 1000 px column), "
                        "page (6.5 x 9 in, text >= 6 pt) or column (3.3 in, text >= 5 pt)")
    r.add_argument("--depth", type=_render_depth, default="auto",
                   help="draw modules deeper than N as one box; 'auto' (default) or 'all'")
    r.add_argument("--no-clusters", action="store_true", help="do not frame module scopes")
    r.add_argument("--no-fold", action="store_true",
                   help="keep Conv, BN and ReLU (and the like) as separate boxes")
    r.add_argument("--collapse-repeats", action=argparse.BooleanOptionalAction, default=True,
                   help="draw N identical consecutive blocks once, marked xN (default; "
                        "--no-collapse-repeats draws every copy)")
    r.add_argument("--hide", default=None, metavar="KINDS",
                   help="what to leave out, comma-separated: cache, dropout, identity, "
                        "plumbing, reshapes (default: all of them; 'none' draws everything)")
    r.add_argument("--no-wrap", action="store_true",
                   help="one long row (LR) or column (TB) instead of a page-shaped layout")
    r.add_argument("--show-params", action="store_true", help="print params on every box")
    r.add_argument("--show-macs", action="store_true", help="print MACs on every box")
    r.add_argument("--color-by", default="family",
                   help="family (default), macs, params or flops")
    r.add_argument("--max-boxes", type=int, default=45, metavar="N",
                   help="with --depth auto, close modules until at most N boxes (default 45)")
    r.add_argument("--theme", default="default", help="default or print")
    r.add_argument("--title", default=None, help="a title above the diagram")
    r.add_argument("--engine", default="auto", help="Graphviz engine (see drawnet.render)")
    r.add_argument("--partial", action="store_true",
                   help="if the trace fails, write how far it got to -o (the failing "
                        "layer marked red); the exit status stays 2")
    r.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="stop a Graphviz layout after this long (default 60)")
    s = sub.add_parser("summary", help="print per-layer params, shapes and MACs (torchinfo-style)")
    _add_model_args(s)
    s.add_argument("--format", default=None,
                   help="table, json, csv or markdown (default: from the suffix of -o "
                        "(.txt .json .csv .md), else table)")
    s.add_argument("--depth", type=_summary_depth, default=3,
                   help="deepest row shown, or 'all' (default 3)")
    s.add_argument("--columns", default=None, metavar="COLS",
                   help="comma-separated: input_shape, output_shape, kernel, params, "
                        "params_percent, macs, flops, memory, trainable "
                        "(default output_shape,params,macs)")
    s.add_argument("-o", "--output", default=None,
                   help="write to this file instead of stdout (- is stdout)")
    return parser


def _model_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for draw_model/summary: shapes from --input, or --inputs."""
    if args.inputs is None:
        size, dtypes = _inputs(args)
        return {"input_size": size, "dtypes": dtypes}
    if args.input or args.dtype:
        raise OptionError("give either --input shapes or --inputs FILE.py:NAME, not both")
    from drawnet.inputfile import load_inputs

    data, kwargs = load_inputs(args.inputs)
    return {"input_data": data, "kwargs": kwargs}


def _inputs(args: argparse.Namespace) -> tuple[Any, Any]:
    if args.seq_len is not None and args.seq_len < 1:
        raise OptionError(f"--seq-len must be a positive whole number, not {args.seq_len}")
    if not args.input:  # inferred from the model (drawnet.trace.infer), a .pt2 program's
        # stored example inputs, or an error there that says what to pass
        if args.dtype:
            raise OptionError("--dtype applies to --input shapes: give --input too")
        return None, None
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


def _mode(args: argparse.Namespace) -> str:
    """The mode to trace in: a ``torch.export`` program keeps the mode it was exported in."""
    if Path(args.spec).suffix.lower() != ".pt2":
        return str(args.mode)
    if args.mode == "train":
        raise OptionError(
            "a torch.export program keeps the train/eval mode it was exported in: "
            "drop --mode train (or export the model in train mode)"
        )
    return "same"


def _render_depth(text: str) -> int | str | None:
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if value in ("all", "none"):
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number, 'auto' or 'all'") from None


RENDER_SUFFIXES = {"svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot", "gv": "dot",
                   "html": "html", "htm": "html", "json": "json"}
SUMMARY_SUFFIXES = {"txt": "table", "json": "json", "csv": "csv", "md": "markdown",
                    "markdown": "markdown"}
BINARY_FORMATS = ("png", "pdf")


def _check_options(args: argparse.Namespace) -> None:
    """Check and normalise the options shared by both commands (any case), before torch."""
    from drawnet.cli_checks import pick
    from drawnet.trace import MODES, TRACERS
    from drawnet.trace.inputs import dtype_name

    args.tracer = pick(args.tracer, TRACERS, "tracer")
    args.mode = pick(args.mode, MODES, "mode")
    args.dtype = [dtype_name(d.strip().lower()) for d in args.dtype]
    for shape in args.input:
        parse_shape(shape)


def _check_render(args: argparse.Namespace) -> str:
    """Check every render option before the model is loaded; return the output format."""
    from drawnet import render
    from drawnet.cli_checks import STDOUT, output_format, pick
    from drawnet.emit.dot import COLOR_BY, ORIENTATIONS
    from drawnet.emit.theme import THEMES
    from drawnet.notebook import SAVE_FORMATS, check_target

    fmt = output_format(args.output, args.format, SAVE_FORMATS, suffixes=RENDER_SUFFIXES,
                        default="svg")
    if args.output == STDOUT:
        if fmt in BINARY_FORMATS and _isatty(sys.stdout):
            raise OptionError(f"not writing {fmt.upper()} bytes to a terminal: redirect "
                              f"(-o - > model.{fmt}) or pipe the output, or name a file")
    else:
        check_target(Path(args.output))
    _check_options(args)
    if args.orientation is not None:
        args.orientation = pick(args.orientation, ORIENTATIONS, "orientation")
    from drawnet.emit.fit import FITS

    args.fit = pick(args.fit, tuple(FITS), "fit")
    args.theme = pick(args.theme, tuple(THEMES), "theme")
    args.color_by = pick(args.color_by, COLOR_BY, "color-by")
    args.engine = pick(args.engine, render.ENGINES, "engine")
    if isinstance(args.depth, int) and args.depth < 1:
        raise OptionError(f"--depth must be a positive whole number, 'auto' or 'all', "
                          f"not {args.depth}")
    if not args.timeout > 0:
        raise OptionError(f"--timeout must be a positive number of seconds, not {args.timeout}")
    if args.max_boxes < 1:
        raise OptionError(f"--max-boxes must be a positive whole number, not {args.max_boxes}")
    from drawnet.passes.hide import check_hide

    check_hide(_hide(args.hide))
    return fmt


def _write_partial(error: TraceError, args: argparse.Namespace, fmt: str) -> None:
    """``--partial``: write how far the failed trace got where the diagram would have gone."""
    from drawnet.cli_checks import STDOUT

    partial: Any = error.diagram
    if partial is None:
        print("drawnet: no partial diagram: the tracer that failed saw no layer "
              "(export and jit fail inside torch)", file=sys.stderr)
        return
    if args.output == STDOUT:
        _write_stdout(partial.pipe(fmt, timeout=args.timeout))
        where = f"{fmt.upper()} to stdout"
    else:
        where = str(partial.save(Path(args.output), format=fmt, timeout=args.timeout))
    print(f"drawnet: wrote the partial diagram ({where}): the trace stopped at the layer "
          "marked red", file=sys.stderr)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _write_stdout(data: bytes) -> None:
    """Write ``data`` to standard output as bytes (BrokenPipeError is left to :func:`main`)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a replaced text stream: text formats only reach here
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        buffer.write(data)
        buffer.flush()
    sys.stdout.flush()


def _hide(text: str | None) -> tuple[str, ...] | None:
    """``--hide``: None for the default set, () for 'none', else the named kinds."""
    if text is None:
        return None
    kinds = tuple(k.strip().lower() for k in text.split(",") if k.strip())
    return () if kinds in ((), ("none",)) else kinds


def _render(args: argparse.Namespace) -> int:
    from drawnet.api import draw_model
    from drawnet.cli_checks import STDOUT
    from drawnet.progress import reporting

    # Check what is cheap before importing torch, loading and tracing the model.
    fmt = _check_render(args)
    inputs = _model_inputs(args)
    mode = _mode(args)
    to_stdout = args.output == STDOUT
    with reporting(args.progress) as shown:
        shown.stage("loading the model")
        model = _load(args)
        try:
            diagram = draw_model(
                model, **inputs, seq_len=args.seq_len, orientation=args.orientation,
                tracer=args.tracer,
                depth=args.depth, clusters=not args.no_clusters, theme=args.theme,
                title=args.title, mode=mode, engine=args.engine, fold=not args.no_fold,
                collapse_repeats=args.collapse_repeats, hide=_hide(args.hide),
                wrap=not args.no_wrap,
                show_params=args.show_params, show_macs=args.show_macs,
                color_by=args.color_by, max_boxes=args.max_boxes, progress=shown,
                fit=args.fit,
            )
        except TraceError as e:
            if args.partial:
                _write_partial(e, args, fmt)
            raise
        if to_stdout:
            data = diagram.pipe(fmt, timeout=args.timeout)
        else:
            out = diagram.save(Path(args.output), format=fmt, timeout=args.timeout)
    # Messages go with the diagram's file to stdout, or to stderr when stdout is the data.
    messages = sys.stderr if to_stdout else sys.stdout
    if to_stdout:
        _write_stdout(data)
    boxes = sum(1 for n in diagram.graph.nodes if n.kind in ("module", "block"))
    where = f"{fmt.upper()} to stdout" if to_stdout else str(out)
    print(f"wrote {where} ({boxes} layer boxes, tracer {diagram.tracer})", file=messages)
    if diagram.graph.get_meta("inputs"):
        print(f"inputs: {diagram.graph.get_meta('inputs')}", file=messages)
    for note in diagram.notes:
        print(f"note: {note}", file=messages)
    return 0


def _load(args: argparse.Namespace) -> Any:
    """The model SPEC names: ``hf:``/``timm:`` specs by name, anything else as a file or
    factory."""
    from drawnet.trace.hub import is_named, load_named

    if is_named(args.spec):
        return load_named(args.spec, task=args.task)
    if args.task is not None:
        raise OptionError("--task picks a transformers head: it applies to hf: specs only")
    return load_model(args.spec, trust_pickle=args.trust_pickle)


def _summary_depth(text: str) -> int | None:
    if text.strip().lower() in ("all", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'all'") from None


def _summary(args: argparse.Namespace) -> int:
    from drawnet.api import summary
    from drawnet.cli_checks import STDOUT, output_format
    from drawnet.notebook import check_target, write_atomic
    from drawnet.progress import reporting
    from drawnet.summary import DEFAULT_COLUMNS, FORMATS, check_columns

    output = args.output or STDOUT
    fmt = output_format(output, args.format, FORMATS, suffixes=SUMMARY_SUFFIXES,
                        default="table", lenient=True)
    if output != STDOUT:
        check_target(Path(output))
    _check_options(args)
    columns = check_columns(args.columns or DEFAULT_COLUMNS)
    inputs = _model_inputs(args)
    mode = _mode(args)
    with reporting(args.progress) as shown:
        shown.stage("loading the model")
        model = _load(args)
        result = summary(model, **inputs, seq_len=args.seq_len, depth=args.depth,
                         tracer=args.tracer, mode=mode, columns=columns, progress=shown)
    text = result.to_text(fmt)
    if output != STDOUT:
        write_atomic(Path(output), text.encode("utf-8"))
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


INTERNAL_ERROR = 1
INTERRUPTED = 130
BROKEN_PIPE = 141
"""The reader of stdout went away (``drawnet ... -o - | head -c 5``): the status a shell
gives a program that SIGPIPE stopped, without a traceback."""


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    0 on success; 2 (one line on stderr) for anything the user can fix: a bad SPEC or
    option, a model that fails on the given inputs, a render or output problem; 1 for an
    unexpected error inside drawnet; 130 if interrupted; 141, silently, when the reader of
    stdout closed it early. ``--debug`` prints the traceback first and keeps the status.

    Example:
        >>> main(["render", "no.such.module:f", "--input", "1,3", "-o", "x.svg"])
        2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with quiet_torch(not args.debug):
            if args.command == "render":
                return _render(args)
            if args.command == "summary":
                return _summary(args)
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE
    except KeyboardInterrupt:
        _traceback(args)
        print("drawnet: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (DrawnetError, OSError) as e:
        _traceback(args)
        print(f"drawnet: error: {_one_line(e)}", file=sys.stderr)
        return USAGE_ERROR
    except MemoryError:
        _traceback(args)
        print("drawnet: error: out of memory: try --tracer meta (no compute), smaller "
              "inputs, or a smaller --depth", file=sys.stderr)
        return USAGE_ERROR
    except Exception as e:
        _traceback(args)
        ask = "please report it" if args.debug else (
            "run again with --debug for the traceback, and please report it")
        print(f"drawnet: internal error: {type(e).__name__}: {_one_line(e)} ({ask})",
              file=sys.stderr)
        return INTERNAL_ERROR
    parser.error(f"unknown command {args.command!r}")


def _traceback(args: argparse.Namespace) -> None:
    """With ``--debug``, the traceback of the exception being handled, on stderr."""
    if args.debug:
        import traceback

        traceback.print_exc()


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
