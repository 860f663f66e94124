"""Tell an error raised by the model's own code from one raised by torch on its inputs.

A tracer's failure is usually a shape or dtype the model does not accept: torch raises it
inside an op, and "check the input shapes" is the right advice. But a ``NameError``, a
failed ``assert`` or an explicit ``raise`` in the model's ``forward`` is the model's code
speaking: the message should say so and point at the file and line, as a traceback would.

The traceback decides, not the message text:

- the *site* is the innermost frame outside torch, drawnet and the standard library (the
  model's ``forward``, or a library such as transformers that the model is made of);
- the model's code raised the error when nothing but the standard library ran below the
  site and the error is one that Python code raises (``NameError``, ``AssertionError``,
  ``KeyError``...), or the site's own instruction was a ``raise`` statement; also for an
  ``AttributeError`` from ``nn.Module.__getattr__`` (a misspelt submodule name);
- a ``RuntimeError`` that a torch op raised while called from the site is not the code's
  fault: it keeps the usual advice about shapes and dtypes.
"""

from __future__ import annotations

import dis
import linecache
import os
import sys
from types import CodeType, FrameType, TracebackType

MODEL_CODE = "model-code"
"""The ``kind`` of a failure raised by the model's own code (see the module docstring)."""

# Exceptions that Python code raises, never a torch op complaining about a shape.
_PYTHON_ERRORS = (NameError, AssertionError, ImportError, SyntaxError, ZeroDivisionError,
                  KeyError, AttributeError, RecursionError)
# Errors no tracer can change: ``auto`` stops at the first one instead of trying the next.
_FINAL_ERRORS = (NameError, ImportError, SyntaxError)


def _folder(module_file: str | None) -> str:
    return os.path.dirname(os.path.abspath(module_file)) + os.sep if module_file else "\0"


_STDLIB = _folder(os.__file__)
_DRAWNET = _folder(os.path.dirname(os.path.abspath(__file__)))


def _torch_folder() -> str:
    torch = sys.modules.get("torch")
    return _folder(getattr(torch, "__file__", None))


def _is_stdlib(file: str) -> bool:
    if file.startswith("<frozen "):
        return True
    path = os.path.abspath(file)
    return path.startswith(_STDLIB) and "-packages" + os.sep not in path[len(_STDLIB):]


def _is_library(file: str, torch_dir: str) -> bool:
    path = os.path.abspath(file)
    return path.startswith((torch_dir, _DRAWNET)) or _is_stdlib(file)


def _frames(e: BaseException) -> list[tuple[FrameType, int, int]]:
    """(frame, line, last instruction) from the outermost to where ``e`` was raised."""
    out = []
    tb: TracebackType | None = e.__traceback__
    while tb is not None:
        out.append((tb.tb_frame, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    return out


def _raises_there(code: CodeType, lasti: int) -> bool:
    """Whether the instruction at ``lasti`` is a ``raise`` statement (or an ``assert``)."""
    for ins in dis.get_instructions(code):
        if ins.offset == lasti:
            return ins.opname in ("RAISE_VARARGS", "RERAISE")
    return False


def _shown(file: str) -> str:
    """``file`` relative to the working folder when it is inside it, from its package
    folder when it is installed (``transformers/models/bert/modeling_bert.py``), else as
    it is.

    Example:
        >>> _shown("/venv/lib/python3.11/site-packages/transformers/modeling_utils.py")
        'transformers/modeling_utils.py'
    """
    for folder in ("site-packages", "dist-packages"):
        _, found, rest = file.rpartition(os.sep + folder + os.sep)
        if found:
            return rest
    try:
        rel = os.path.relpath(file)
    except ValueError:  # another drive
        return file
    return file if rel.startswith("..") else rel


def model_code(e: BaseException) -> str:
    """Where the model's own code raised ``e``, as the advice for the message; else ``""``.

    Example:
        >>> def forward(x):
        ...     return x + undefined_name
        >>> try:
        ...     forward(1)
        ... except NameError as e:
        ...     print(model_code(e))  # doctest: +ELLIPSIS
        raised by the model's own code at <doctest ...> line 2 (return x + undefined_name): ...
        >>> model_code(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
        ''
    """
    frames = _frames(e)
    if not frames:
        return ""
    torch_dir = _torch_folder()
    site = None
    for i in range(len(frames) - 1, -1, -1):
        if not _is_library(frames[i][0].f_code.co_filename, torch_dir):
            site = i
            break
    if site is None:
        return ""
    frame, line, lasti = frames[site]
    below = [f[0].f_code for f in frames[site + 1:]]
    if all(_is_stdlib(c.co_filename) for c in below):
        blamed = bool(below) or isinstance(e, _PYTHON_ERRORS) or _raises_there(
            frame.f_code, lasti)
    else:  # torch code ran below the site: only nn.Module's "has no attribute"
        last = below[-1]
        blamed = (isinstance(e, AttributeError) and last.co_name == "__getattr__"
                  and os.path.abspath(last.co_filename).startswith(torch_dir))
    if not blamed:
        return ""
    file = frame.f_code.co_filename
    text = linecache.getline(file, line, frame.f_globals).strip()
    shown = f" ({text[:80]}{'…' if len(text) > 80 else ''})" if text else ""
    return (f"raised by the model's own code at {_shown(file)} line {line}{shown}: fix the "
            "code there, or give the inputs it expects")


def is_final(e: BaseException) -> bool:
    """Whether the model's code raised ``e`` in a way no other tracer can avoid.

    A ``NameError``, ``ImportError`` or ``SyntaxError`` in the model's code stops
    ``tracer='auto'`` at once; anything else (an ``assert`` may test the device, which
    the ``meta`` tracer changes) lets it try the next tracer.

    Example:
        >>> is_final(RuntimeError("boom"))
        False
    """
    return isinstance(e, _FINAL_ERRORS) and bool(model_code(e))
