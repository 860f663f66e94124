"""``--inputs FILE.py:NAME``: the command line's way to give any inputs a model takes.

Shapes on the command line (``--input 1,3,224,224``) cover one or a few plain tensors.
Models that take a list of images (torchvision's detection models), dicts of tensors, or
keyword tensors get their inputs from Python: ``--inputs inputs.py:make_inputs`` (or
``package.module:make_inputs``) imports the file and reads ``make_inputs``; a callable is
called with no arguments. What it gives is read as:

- a pair ``(args, kwargs)`` of a tuple or list and a dict: positional and keyword
  arguments for ``forward``;
- anything else: ``input_data`` as :func:`drawnet.draw_model` takes it (a tensor, a
  tuple or list of positional arguments, a dict of keyword arguments), each argument a
  tensor or a nesting of tuples, lists and dicts of tensors.

So ``return ([torch.rand(3, 320, 320)],)`` draws a detection model on one image, and
``return (), {"input_ids": ids, "use_cache": False}`` gives keyword arguments. To pass a
tuple and a dict as two positional arguments, wrap them: ``return ((a, d), {})``.

Example:
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = pathlib.Path(d) / "inputs.py"
    ...     _ = f.write_text("import torch\\ndef make():\\n    return [torch.zeros(3, 4, 4)],")
    ...     data, kwargs = load_inputs(f"{f}:make")
    >>> [tuple(t.shape) for t in data[0]], kwargs
    ([(3, 4, 4)], None)
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drawnet.errors import InputError

__all__ = ["load_inputs"]


def load_inputs(spec: str) -> tuple[Any, dict[str, Any] | None]:
    """``(input_data, kwargs)`` from ``--inputs SPEC`` (see the module docstring).

    Raises :class:`~drawnet.errors.InputError` with a one-line reason when SPEC cannot
    be resolved or gives nothing usable.
    """
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise InputError(f"--inputs {spec!r}: give FILE.py:NAME or package.module:NAME, "
                         "e.g. --inputs inputs.py:make_inputs")
    module = _import(where, spec)
    value: Any = module
    for part in name.split("."):
        if not hasattr(value, part):
            raise InputError(f"--inputs {spec!r}: {where!r} has no attribute {name!r}")
        value = getattr(value, part)
    if callable(value):
        try:
            value = value()
        except (Exception, SystemExit) as e:
            raise InputError(f"--inputs {spec!r}: calling {name}() failed: "
                             f"{type(e).__name__}: {_first_line(e)}") from e
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping) \
            and isinstance(value[0], Sequence) and not isinstance(value[0], str):
        args, kwargs = value
        return (tuple(args) if args else None), {str(k): v for k, v in kwargs.items()}
    return value, None


def _import(where: str, spec: str) -> Any:
    if not where.endswith(".py"):
        try:
            return importlib.import_module(where)
        except (Exception, SystemExit) as e:
            raise InputError(f"--inputs {spec!r}: cannot import {where!r}: "
                             f"{type(e).__name__}: {_first_line(e)}") from e
    file = Path(where)
    if not file.is_file():
        raise InputError(f"--inputs {spec!r}: no such file: {where!r}")
    loader_spec = importlib.util.spec_from_file_location(f"_drawnet_inputs_{file.stem}", file)
    if loader_spec is None or loader_spec.loader is None:
        raise InputError(f"--inputs {spec!r}: cannot import {where!r} as Python")
    module = importlib.util.module_from_spec(loader_spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise InputError(f"--inputs {spec!r}: importing {where!r} failed: "
                         f"{type(e).__name__}: {_first_line(e)}") from e
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""
