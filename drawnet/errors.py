"""Exceptions raised by drawnet.

Every error is a :class:`DrawnetError` and also the builtin that fits, so callers can
catch either ``drawnet.OptionError`` or plain ``ValueError``.

Example:
    >>> from drawnet.errors import OptionError
    >>> try:
    ...     raise OptionError("unknown orientation: 'XY' (must be one of 'LR', 'TB')")
    ... except ValueError as e:
    ...     print(e)
    unknown orientation: 'XY' (must be one of 'LR', 'TB')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DrawnetError(Exception):
    """Base class of every error drawnet raises on purpose."""


class OptionError(DrawnetError, ValueError):
    """An option or argument has a value drawnet cannot use."""


class InputError(DrawnetError, ValueError):
    """The inputs given for the model (shapes, dtypes, tensors) are not usable."""


class ModelTypeError(DrawnetError, TypeError):
    """The object passed as a model is not an ``nn.Module`` instance."""


class TraceError(DrawnetError, RuntimeError):
    """Running or tracing the model failed; the cause is chained.

    ``diagram`` is the picture of how far the trace got (a :class:`drawnet.Diagram`
    with the failing layer marked red and the error written under it), or None when the
    tracer that failed saw no op (``export`` and ``jit`` fail inside torch). In Jupyter,
    ``err.diagram`` (or ``err`` itself, as a cell's last expression) shows it.
    ``partial`` is the op-level graph it is drawn from.
    """

    diagram: object | None = None
    partial: object | None = None

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[
        str, str
    ]:
        """Jupyter display: the partial diagram when there is one, and the message."""
        show = getattr(self.diagram, "_repr_mimebundle_", None)
        bundle: dict[str, str] = dict(show(include, exclude)) if callable(show) else {}
        bundle["text/plain"] = f"{type(self).__name__}: {self}"
        return bundle


class RenderError(DrawnetError, RuntimeError):
    """Graphviz could not lay out or render the DOT text."""


class GraphError(DrawnetError, ValueError):
    """An IR graph breaks one of its invariants (see :func:`drawnet.ir.validate`)."""


class OptionTypeError(OptionError, TypeError):
    """An argument has the wrong type (a ``TypeError``, and an :class:`OptionError`).

    Example:
        >>> isinstance(OptionTypeError("title must be a string, got int"), TypeError)
        True
    """


def safe_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` on one line and at most ``limit`` characters, whatever ``value`` is.

    A ``repr`` that raises or spans lines (a tensor, a broken object) gives the type name.

    Example:
        >>> safe_repr("XY"), safe_repr("x" * 100)[-4:], safe_repr([[1], [2]])
        ("'XY'", 'x...', '[[1], [2]]')
    """
    try:
        text = repr(value)
    except Exception:
        text = ""
    if not text or "\n" in text or type(value).__name__ in ("Tensor", "Parameter", "ndarray"):
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def choices(value: object, valid: Iterable[str], what: str) -> OptionError:
    """Build the standard "unknown X" error listing the valid choices.

    A value that is not a string at all gives an :class:`OptionTypeError`.

    Example:
        >>> str(choices("XY", ("LR", "TB"), "orientation"))
        "unknown orientation: 'XY' (must be one of 'LR', 'TB')"
        >>> choices(5, ("LR", "TB"), "orientation")
        OptionTypeError("orientation must be a string ('LR', 'TB'), got int 5")
    """
    listed = ", ".join(repr(v) for v in valid)
    if not isinstance(value, str):
        return OptionTypeError(
            f"{what} must be a string ({listed}), got {type(value).__name__} {safe_repr(value)}"
        )
    return OptionError(f"unknown {what}: {safe_repr(value)} (must be one of {listed})")


def check_choice(value: object, valid: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``valid``, else the error of :func:`choices`.

    Safe for any object (a tensor, an object whose ``==`` raises).

    Example:
        >>> check_choice("TB", ("LR", "TB"), "orientation")
        'TB'
    """
    valid = tuple(valid)
    if isinstance(value, str) and value in valid:
        return value
    raise choices(value, valid, what)


def check_flag(value: object, what: str, *, none: bool = False) -> None:
    """Raise :class:`OptionTypeError` unless ``value`` is a bool (or None when ``none``).

    ``fold="no"`` would otherwise be taken as true.

    Example:
        >>> check_flag("no", "fold")
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionTypeError: fold must be True or False, got str 'no'
    """
    if isinstance(value, bool) or (none and value is None) or type(value).__name__ == "bool_":
        return
    also = " or None" if none else ""
    raise OptionTypeError(
        f"{what} must be True or False{also}, got {type(value).__name__} {safe_repr(value)}"
    )


class MissingDependencyError(DrawnetError, ImportError):
    """An optional package a feature needs is not installed (the message names the extra)."""


class OutputError(DrawnetError, OSError):
    """The output file cannot be written: a missing folder, a file in the way, no permission.

    Example:
        >>> isinstance(OutputError("cannot save to 'a/b.svg'"), OSError)
        True
    """


class UnsafeFileError(DrawnetError, ValueError):
    """A saved model would be loaded by unpickling, which can run arbitrary code."""


# -- what a layer expects, for "wrong input shape" messages ----------------------------------

_SPATIAL = {"1d": "L", "2d": "H×W", "3d": "D×H×W"}
_NORMS = ("BatchNorm", "InstanceNorm", "SyncBatchNorm", "FrozenBatchNorm")


def expected_input(class_name: str, attrs: Mapping[str, object]) -> str:
    """What a standard layer expects as input, from its class and IR attributes, or ``""``.

    Used after the failing layer's name in trace errors, so a wrong shape reads
    ``in conv1 · Conv2d (input 1×3×224; expects N×3×H×W or 3×H×W)``. The attributes are
    the ones :func:`drawnet.trace.common.module_attrs` records (``in_channels``,
    ``in_features``...); an unknown layer gives ``""``.

    Example:
        >>> expected_input("Conv2d", {"in_channels": 3, "out_channels": 64})
        'expects N×3×H×W or 3×H×W'
        >>> expected_input("Linear", {"in_features": 512, "out_features": 10})
        'expects …×512 (last dimension 512)'
        >>> expected_input("LSTM", {"input_size": 8, "batch_first": True})
        'expects N×L×8 or L×8'
        >>> expected_input("MyBlock", {})
        ''
    """
    a = attrs
    suffix = class_name[-2:]
    spatial = _SPATIAL.get(suffix)
    channels = a.get("in_channels")
    if spatial and isinstance(channels, int) and "Conv" in class_name:
        return f"expects N×{channels}×{spatial} or {channels}×{spatial}"
    features = a.get("num_features")
    if class_name.startswith(_NORMS) and isinstance(features, int):
        if suffix == "1d":
            return f"expects N×{features} or N×{features}×L"
        if spatial:
            unbatched = f" or {features}×{spatial}" if "Instance" in class_name else ""
            return f"expects N×{features}×{spatial}{unbatched}"
    if spatial and "Pool" in class_name:
        return f"expects N×C×{spatial} or C×{spatial}"
    in_features = a.get("in_features")
    if isinstance(in_features, int) and class_name.endswith("Linear"):
        return f"expects …×{in_features} (last dimension {in_features})"
    normalized = a.get("normalized_shape")
    if class_name in ("LayerNorm", "RMSNorm") and normalized is not None:
        dims = normalized if isinstance(normalized, tuple) else (normalized,)
        last = "×".join(str(d) for d in dims)
        return f"expects …×{last} (last dimensions {last})"
    vocab = a.get("num_embeddings")
    if class_name.startswith("Embedding") and isinstance(vocab, int):
        return f"expects integer indices (dtype long) below {vocab}"
    size = a.get("input_size")
    if class_name in ("RNN", "LSTM", "GRU") and isinstance(size, int):
        batched = f"N×L×{size}" if a.get("batch_first") else f"L×N×{size}"
        return f"expects {batched} or L×{size}"
    embed = a.get("embed_dim")
    if class_name == "MultiheadAttention" and isinstance(embed, int):
        return f"expects query …×{embed}"
    return ""


class SourceError(DrawnetError, ValueError):
    """A model named by an ``hf:`` or ``timm:`` spec cannot be found or built."""
