"""What the command line checks before it imports torch, and how it answers a typo.

- :func:`pick` accepts an enumerated option in any case (``--orientation tb``,
  ``--theme Print``) and names the valid choices otherwise;
- :func:`output_format` decides the output format from ``--format`` and the suffix of
  ``-o`` (``-o -`` is standard output) and refuses the two when they disagree;
- :func:`missing_module`, :func:`missing_attribute` and :func:`file_factories` give the
  "did you mean" for a misspelt SPEC: similar module names, similar factory names, or what
  a Python file defines that could be a factory (read with :mod:`ast`, without running it).

Nothing here imports torch, so a mistake in the options is reported at once.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from drawnet.errors import OptionError, choices

STDOUT = "-"
"""``-o -``: write to standard output."""


def pick(value: str, valid: Sequence[str], what: str) -> str:
    """The choice in ``valid`` that ``value`` names, ignoring case; else :class:`OptionError`.

    Example:
        >>> pick("tb", ("LR", "TB"), "orientation"), pick("Print", ("default", "print"), "theme")
        ('TB', 'print')
        >>> pick("XY", ("LR", "TB"), "orientation")
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionError: unknown orientation: 'XY' (must be one of 'LR', 'TB')
    """
    key = value.strip().lower()
    for choice in valid:
        if choice.lower() == key:
            return choice
    raise choices(value, valid, what)


def output_format(output: str, format: str | None, formats: Sequence[str], *,
                  suffixes: Mapping[str, str], default: str, lenient: bool = False) -> str:
    """The format to write ``output`` in, from ``--format`` and the suffix of ``-o``.

    ``suffixes`` maps a file suffix to the format it means (``{"svg": "svg", "gv": "dot"}``).
    An explicit ``format`` must agree with a suffix that means a format; with another
    suffix (or ``-o -``) it decides alone. Without ``format``, the suffix decides;
    ``default`` is the format of ``-o -``, and also of a suffix that means no format when
    ``lenient`` (else that is an error).

    Example:
        >>> sfx = {"svg": "svg", "png": "png", "gv": "dot", "dot": "dot"}
        >>> fmts = ("svg", "png", "dot")
        >>> [output_format(o, f, fmts, suffixes=sfx, default="svg")
        ...  for o, f in [("a.gv", None), ("-", "PNG"), ("-", None), ("a.out", "png")]]
        ['dot', 'png', 'svg', 'png']
        >>> output_format("a.png", "svg", fmts, suffixes=sfx, default="svg")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionError: --format svg disagrees with the suffix of 'a.png' (png): ...
    """
    suffix = Path(output).suffix.lower().lstrip(".") if output != STDOUT else ""
    by_suffix = suffixes.get(suffix)
    if format is not None:
        fmt = pick(format, formats, "format")
        if by_suffix is not None and by_suffix != fmt:
            better = Path(output).with_suffix(f".{fmt}").name
            raise OptionError(
                f"--format {fmt} disagrees with the suffix of {output!r} ({by_suffix}): "
                f"make them agree ({better}), or drop --format"
            )
        return fmt
    if by_suffix is not None:
        return by_suffix
    if output == STDOUT or lenient:
        return default
    if not suffix:
        listed = ", ".join(f".{s}" for s in suffixes)
        raise OptionError(f"cannot tell the format of {output!r}: give it a suffix "
                          f"({listed}) or pass --format")
    raise choices(suffix, formats, "format")


# -- "did you mean" -------------------------------------------------------------------------


def similar(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` that look like ``word`` (case ignored), the closest first.

    Example:
        >>> similar("resnet1", ["resnet18", "resnet152", "vgg16", "ResNet"])
        ['resnet18', 'ResNet', 'resnet152']
    """
    by_lower: dict[str, str] = {}
    for name in sorted(set(names)):
        by_lower.setdefault(name.lower(), name)
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[f] for f in found]


def _did_you_mean(found: Sequence[str]) -> str:
    if not found:
        return ""
    quoted = [repr(f) for f in found]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


def missing_module(path: str, error: ModuleNotFoundError) -> str:
    """" (did you mean 'x'?)" for ``import path`` failing because ``path`` is misspelt.

    Only when the missing module is ``path`` itself or a package above it; a module that
    exists but fails to import one of its own dependencies gets no suggestion.

    Example:
        >>> try:
        ...     importlib.import_module("collections.abcc")
        ... except ModuleNotFoundError as e:
        ...     missing_module("collections.abcc", e)
        " (did you mean 'collections.abc'?)"
    """
    missing = error.name or ""
    if not missing or not (path == missing or path.startswith(missing + ".")):
        return ""
    parent, _, leaf = missing.rpartition(".")
    if parent:
        try:
            package = importlib.import_module(parent)
        except Exception:
            return ""
        names = [m.name for m in pkgutil.iter_modules(getattr(package, "__path__", []))]
        names += [k for k, v in vars(package).items() if isinstance(v, ModuleType)]
        return _did_you_mean([f"{parent}.{n}" for n in similar(leaf, names)])
    names = [m.name for m in pkgutil.iter_modules()] + list(sys.builtin_module_names)
    return _did_you_mean(similar(leaf, names))


def _could_be_factory(obj: Any) -> bool:
    """A model, an ``nn.Module`` class, or a function (not a module, a weights enum...)."""
    torch = sys.modules.get("torch")
    module_cls = getattr(getattr(torch, "nn", None), "Module", None) if torch else None
    if module_cls is not None and isinstance(obj, module_cls):
        return True
    if isinstance(obj, type):
        return module_cls is not None and issubclass(obj, module_cls) and _no_required_args(obj)
    return (inspect.isfunction(obj) or inspect.isbuiltin(obj)) and _no_required_args(obj)


def missing_attribute(where: str, obj: Any, name: str, attr: str) -> str:
    """The message for ``attr`` (at its part ``name``) missing from ``obj``, with suggestions.

    ``where`` is how the user named ``obj`` (``'torchvision.models'``).

    Example:
        >>> import types
        >>> zoo = types.ModuleType("zoo")
        >>> def resnet18(weights=None): pass
        >>> def vgg16(weights=None): pass
        >>> def load(path): pass
        >>> zoo.resnet18, zoo.vgg16, zoo.load, zoo.resnet = resnet18, vgg16, load, types
        >>> missing_attribute("'zoo'", zoo, "resnet1", "resnet1")
        "'zoo' has no attribute 'resnet1' (did you mean 'resnet18'?)"
    """
    names = [k for k in dir(obj) if not k.startswith("_")]
    factories = [k for k in names if _could_be_factory(getattr(obj, k, None))]
    return f"{where} has no attribute {attr!r}{_did_you_mean(similar(name, factories))}"


def file_factories(module: ModuleType | None, file: Path) -> list[str]:
    """Names a Python file defines that could be a factory: functions and ``nn.Module``
    classes callable without arguments, and models; functions first.

    With ``module`` (the file already imported), the objects decide; without it, the
    file is only parsed, never run: top-level functions whose arguments all have
    defaults, then classes whose bases name a ``Module`` or ``Model`` and whose
    ``__init__`` needs no argument.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = Path(d) / "net.py"
        ...     _ = f.write_text(
        ...         "import torch\\n"
        ...         "class Net(torch.nn.Module):\\n    pass\\n"
        ...         "class Wide(Net):\\n    def __init__(self, width=8):\\n        pass\\n"
        ...         "class Big(Net):\\n    def __init__(self, width):\\n        pass\\n"
        ...         "class Config:\\n    pass\\n"
        ...         "def make(size=4):\\n    pass\\n"
        ...         "def helper(x):\\n    pass\\n")
        ...     file_factories(None, f)
        ['make', 'Net', 'Wide']
    """
    if module is not None:
        functions: list[str] = []
        others: list[str] = []
        for name, obj in vars(module).items():
            if name.startswith("_") or not _could_be_factory(obj):
                continue
            own = getattr(obj, "__module__", module.__name__) == module.__name__
            if (isinstance(obj, type) or inspect.isfunction(obj)) and not own:
                continue  # imported from elsewhere (torch.nn.Identity)
            (functions if inspect.isfunction(obj) else others).append(name)
        return functions + others
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (OSError, SyntaxError, ValueError):
        return []
    functions, classes = [], []
    modules: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _required(node.args) == 0 and not node.name.startswith("_"):
                functions.append(node.name)
        elif isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if not any(b.rsplit(".", 1)[-1] in modules or b.endswith(("Module", "Model"))
                       for b in bases):
                continue
            modules.add(node.name)
            init = next((f for f in node.body
                         if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            if (init is None or _required(init.args) <= 1) and not node.name.startswith("_"):
                classes.append(node.name)
    return functions + classes


def _required(a: ast.arguments) -> int:
    """How many arguments a ``def`` needs (``self`` included)."""
    return (len(a.posonlyargs) + len(a.args) - len(a.defaults)
            + sum(1 for d in a.kw_defaults if d is None))


def _no_required_args(func: Any) -> bool:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return True
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values())


def missing_in_file(where: str, module: ModuleType, file: Path, name: str, attr: str) -> str:
    """The message for ``attr`` missing from an imported Python file: similar names, and
    what the file defines that could be a factory.

    Example:
        >>> import tempfile, types
        >>> mod = types.ModuleType("net")
        >>> def make(): pass
        >>> make.__module__ = "net"
        >>> mod.make = make
        >>> missing_in_file("'net.py'", mod, Path("net.py"), "mak", "mak")
        "'net.py' has no attribute 'mak' (did you mean 'make'?); it defines make"
    """
    found = file_factories(module, file)
    return f"{where} has no attribute {attr!r}{_did_you_mean(similar(name, found))}; " + (
        defines(found))


def defines(names: Sequence[str], limit: int = 8) -> str:
    """``it defines make, Net``: the factories a file offers, for an error message.

    Example:
        >>> defines(["make", "Net"])
        'it defines make, Net'
        >>> defines([])
        'it defines no function or nn.Module class that could be a factory'
    """
    if not names:
        return "it defines no function or nn.Module class that could be a factory"
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return f"it defines {shown}"
