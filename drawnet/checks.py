"""Checks at the API boundary: argument types before any work, dtypes after the trace.

Each check raises a one-line :class:`~drawnet.errors.DrawnetError` that also subclasses
the builtin that fits (``TypeError`` for a wrong type, ``ValueError`` for a wrong value),
so nothing deeper in drawnet meets a value it cannot use.

Example:
    >>> check_draw_options(title=5)
    Traceback (most recent call last):
    ...
    drawnet.errors.OptionTypeError: title must be a string or None, got int 5
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drawnet import ir
from drawnet.errors import InputError, OptionTypeError, check_flag, safe_repr

_FLAGS = ("fold", "collapse_repeats", "clusters", "wrap", "show_params", "show_macs")


def check_draw_options(**options: Any) -> None:
    """Types of :func:`drawnet.draw_model`'s picture options (values are checked where used).

    Flags must be bools (``fold="no"`` would read as true), ``legend`` and
    ``hide_reshapes`` a bool or None, ``title`` a string or None.

    Example:
        >>> check_draw_options(fold=True, legend=None, title="ResNet")
    """
    for name in _FLAGS:
        if name in options:
            check_flag(options[name], name)
    for name in ("legend", "hide_reshapes"):
        if name in options:
            check_flag(options[name], name, none=True)
    title = options.get("title")
    if title is not None and not isinstance(title, str):
        raise OptionTypeError(
            f"title must be a string or None, got {type(title).__name__} {safe_repr(title)}")


def check_kwargs(kwargs: object) -> None:
    """``kwargs`` must be None or a mapping from argument names (strings) to values.

    Example:
        >>> check_kwargs({"use_cache": False})
        >>> check_kwargs("str")
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionTypeError: kwargs must be a dict of keyword arguments for \
forward, got str 'str'
    """
    if kwargs is None:
        return
    if not isinstance(kwargs, Mapping):
        raise OptionTypeError(
            "kwargs must be a dict of keyword arguments for forward, got "
            f"{type(kwargs).__name__} {safe_repr(kwargs)}")
    for key in kwargs:
        if not isinstance(key, str) or not key.isidentifier():
            raise OptionTypeError(
                f"kwargs key {safe_repr(key)} is not an argument name (a string)")


# Ops whose tensors must share one dtype family: integer input into float weights fails
# in a real run ("expected both arguments to have the same dtype"). The no-compute
# tracer answers shapes for some of them without torch's check, so it is made here.
_FLOAT_WEIGHT_OPS = frozenset({
    "linear", "bilinear", "layer_norm", "group_norm", "rms_norm", "batch_norm",
    "instance_norm", "multi_head_attention_forward", "prelu", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
})
_INTEGRAL = ("int", "uint", "bool", "long", "short")


def _integral(dtype: str) -> bool:
    return dtype.startswith(_INTEGRAL)


def check_dtypes(graph: ir.Graph) -> None:
    """Raise :class:`~drawnet.errors.InputError` for an op a real run would reject on dtype.

    An integer or bool tensor meeting floating-point weights (token ids fed straight
    into a ``Linear``), or floating-point indices into an ``Embedding``, names the layer.

    Example:
        >>> from drawnet.ir import Graph, Node, TensorMeta
        >>> ids, w = TensorMeta((1, 4), "int64"), TensorMeta((3, 4))
        >>> check_dtypes(Graph(nodes=(Node("fc", "function", "linear", module_path="fc",
        ...     class_name="Linear", inputs=(ids, w)),)))
        Traceback (most recent call last):
        ...
        drawnet.errors.InputError: layer 'fc' (Linear) gets an int64 input but float32 \
weights, which a real run rejects: pass the dtype it expects (dtypes='float32'), or feed \
integer ids to an Embedding first
    """
    for node in graph.nodes:
        dtypes = [t.dtype for t in node.inputs]
        where = (f"layer {node.module_path!r} ({node.class_name})" if node.module_path
                 else f"op {node.op!r}")
        if node.op in _FLOAT_WEIGHT_OPS:
            ints = [d for d in dtypes if _integral(d)]
            floats = [d for d in dtypes if not _integral(d) and not d.startswith("complex")]
            if ints and floats:
                raise InputError(
                    f"{where} gets an {ints[0]} input but {floats[0]} weights, which a real "
                    f"run rejects: pass the dtype it expects (dtypes={floats[0]!r}), or feed "
                    "integer ids to an Embedding first"
                )
        elif node.op in ("embedding", "embedding_bag") and len(dtypes) > 1 and not any(
                _integral(d) for d in dtypes):
            # F.embedding(input, weight) and aten.embedding(weight, indices): no integer
            # tensor at all means the indices are floating point.
            raise InputError(
                f"{where} gets {dtypes[0]} indices, which a real run rejects: pass token ids "
                "as integers (dtypes='long')"
            )
