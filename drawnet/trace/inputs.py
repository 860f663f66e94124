"""Turn the user's ``input_size`` / ``input_data`` / ``kwargs`` / ``dtypes`` into inputs.

Accepted forms:

- ``input_size``: one shape (``[1, 3, 224, 224]``), a list of shapes (one per positional
  input, named after ``forward``'s parameters), or a dict of shapes for keyword inputs
  (``{"input_ids": [1, 8], "decoder_input_ids": [1, 4]}``);
- ``dtypes``: one dtype for every shape, a list (one per shape), or a dict by input
  name (``{"input_ids": "long"}``; the others stay ``float32``);
- ``input_data``: a tensor, a tuple/list of positional arguments or a dict of keyword
  arguments; each argument is a tensor or any nesting of tuples, lists and dicts of
  tensors (``input_data=([image],)`` for torchvision's detection models, which take a
  list of images). Tensors keep their own dtypes and are drawn as inputs named by their
  place (``images.0``, ``targets.0.boxes``); other values inside (``None``, numbers,
  strings) are passed through as they are;
- ``kwargs``: more keyword arguments for ``forward``, nested the same way; tensors among
  them are drawn as inputs, anything else (``use_cache=False``) is passed through.

The parsed form, :class:`ModelInputs`, holds no tensors made by drawnet: each tracer
materialises it on the device it needs (``meta`` for a no-compute trace, the model's
own device for a real run) with :func:`materialize`.

Example:
    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, image, meta=None, *, scale=1.0):
    ...         return image
    >>> parsed = parse_inputs(Net(), [[1, 3, 8, 8], [1, 4]], dtypes=[None, "long"])
    >>> [(s.name, s.shape, s.dtype) for s in parsed.specs]
    [('image', (1, 3, 8, 8), 'float32'), ('meta', (1, 4), 'int64')]
    >>> parsed = parse_inputs(Net(), {"image": [1, 3, 8, 8]}, kwargs={"scale": 2.0})
    >>> [s.name for s in parsed.kwargs], dict(parsed.extra)
    (['image'], {'scale': 2.0})
    >>> image = torch.zeros(3, 8, 8)
    >>> parsed = parse_inputs(Net(), input_data=([image, image], {"id": 7, "box": image}))
    >>> [s.name for s in parsed.specs]
    ['image.0', 'image.1', 'meta.box']
    >>> args, kwargs = materialize(parsed, "meta", fill=False)
    >>> [tuple(t.shape) for t in args[0]], args[1]["id"]
    ([(3, 8, 8), (3, 8, 8)], 7)
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from drawnet.errors import InputError, OptionError, safe_repr

DTYPE_NAMES = (
    "float32", "float", "float64", "double", "float16", "half", "bfloat16",
    "int64", "long", "int32", "int", "int16", "int8", "uint8", "bool",
)
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
            "int": "int32"}


@dataclass(frozen=True)
class InputSpec:
    """One input: its name, shape and dtype, and the user's tensor when one was given."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    tensor: Any = None


@dataclass(frozen=True)
class Leaf:
    """Where the ``index``-th tensor input (of :attr:`ModelInputs.specs`) goes in the
    arguments' structure."""

    index: int


@dataclass(frozen=True)
class ModelInputs:
    """Positional and keyword inputs for ``forward``, plus non-tensor keyword arguments.

    ``args`` and ``kwargs`` are the tensor inputs (the leaves of positional, then of
    keyword arguments); ``extra`` the keyword arguments that hold no tensor. When an
    argument is nested (a list of images, a dict of targets), ``arg_tree`` and
    ``kwarg_tree`` hold the arguments' structure with a :class:`Leaf` where each tensor
    goes and other values as they are; None means one tensor per argument, in order.
    """

    args: tuple[InputSpec, ...]
    kwargs: tuple[InputSpec, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    arg_tree: tuple[Any, ...] | None = None
    kwarg_tree: Mapping[str, Any] | None = None

    @property
    def specs(self) -> tuple[InputSpec, ...]:
        """Every tensor input, positional first."""
        return self.args + self.kwargs

    def assemble(self, leaves: Sequence[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` for ``forward``: the structure with ``leaves`` (one per
        spec, in order) in place of the tensors, and ``extra`` added to ``kwargs``."""
        n = len(self.args)
        arg_tree = self.arg_tree if self.arg_tree is not None else tuple(
            Leaf(i) for i in range(n))
        kwarg_tree = self.kwarg_tree if self.kwarg_tree is not None else {
            s.name: Leaf(n + i) for i, s in enumerate(self.kwargs)}
        args = tuple(_fill(a, leaves) for a in arg_tree)
        kwargs = {k: _fill(v, leaves) for k, v in kwarg_tree.items()}
        kwargs.update(self.extra)
        return args, kwargs


def _fill(tree: Any, leaves: Sequence[Any]) -> Any:
    if isinstance(tree, Leaf):
        return leaves[tree.index]
    if isinstance(tree, list):
        return [_fill(v, leaves) for v in tree]
    if isinstance(tree, tuple):
        items = [_fill(v, leaves) for v in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    if isinstance(tree, dict):
        out = type(tree)()
        for k, v in tree.items():
            out[k] = _fill(v, leaves)
        return out
    return tree


def dtype_name(dtype: Any) -> str:
    """Normalise a dtype given as ``torch.int64``, ``"long"`` or ``"int64"`` to ``"int64"``."""
    listed = ", ".join(repr(d) for d in DTYPE_NAMES)
    try:
        text = dtype if isinstance(dtype, str) else str(dtype)
    except Exception:
        text = ""
    text = _ALIASES.get(text.removeprefix("torch."), text.removeprefix("torch."))
    if text not in DTYPE_NAMES:
        raise OptionError(f"unknown dtype: {safe_repr(dtype)} (must be one of {listed})")
    return text


_MAX_ELEMENTS = 2**63 - 1
"""torch counts elements (and bytes) in a signed 64-bit integer."""


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int | str | bytes | bytearray | memoryview) or not isinstance(
            value, Sequence):
        kind = f" ({type(value).__name__})" if isinstance(value, bytes | bytearray) else ""
        raise InputError(
            f"{where}: expected a shape such as [1, 3, 224, 224], got {safe_repr(value)}{kind}")
    dims: list[int] = []
    for d in value:
        try:
            dim = operator.index(d) if not isinstance(d, bool) else None
        except TypeError:
            dim = None
        if dim is None:
            raise InputError(
                f"{where}: dimension {safe_repr(d)} in {safe_repr(list(value))} is not a "
                "whole number")
        if dim <= 0:
            raise InputError(
                f"{where}: dimension {dim} in {safe_repr(list(value))} must be positive "
                "(use 1 for the batch dimension)"
            )
        dims.append(dim)
    if not dims:
        raise InputError(f"{where}: empty shape; give every dimension, e.g. [1, 3, 224, 224]")
    if math.prod(dims) * 8 > _MAX_ELEMENTS:
        raise InputError(
            f"{where}: {'×'.join(map(str, dims))} is {math.prod(dims):.3g} elements, more than "
            "a tensor can hold (its bytes must count below 2**63)")
    return tuple(dims)


def forward_arg_names(model: Any) -> list[str]:
    """Names of ``model.forward``'s positional parameters ('input0'... for ``*args``)."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            break
    return names


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def parse_inputs(
    model: Any,
    input_size: Any = None,
    input_data: Any = None,
    kwargs: Mapping[str, Any] | None = None,
    dtypes: Any = None,
) -> ModelInputs:
    """Check and name the inputs; raise :class:`InputError`/:class:`OptionError` on misuse.

    See the module docstring for the accepted forms.

    Example:
        >>> import torch
        >>> parsed = parse_inputs(torch.nn.Linear(4, 2), [1, 4])
        >>> parsed.args[0].name, parsed.args[0].shape, parsed.args[0].dtype
        ('input', (1, 4), 'float32')
    """
    names = forward_arg_names(model)

    def name_at(i: int) -> str:
        return names[i] if i < len(names) else f"input{i}"

    if input_size is None and input_data is None and not _holds_tensor(
            dict(kwargs) if isinstance(kwargs, Mapping) else None):
        raise InputError(
            "no inputs: pass input_size (e.g. [1, 3, 224, 224]) or input_data (a tensor, "
            "a tuple of tensors or a dict of keyword tensors)"
        )
    if input_size is not None and input_data is not None:
        raise OptionError("pass either input_size or input_data, not both")

    args: list[InputSpec] = []
    kw: list[InputSpec] = []
    if input_size is not None:
        if isinstance(input_size, Mapping):
            if not input_size:
                raise InputError("input_size is an empty dict; give at least one shape")
            named = [(str(k), _shape(v, f"input_size[{k!r}]")) for k, v in input_size.items()]
            dts = _dtypes(dtypes, [k for k, _ in named])
            kw = [InputSpec(k, s, d) for (k, s), d in zip(named, dts, strict=True)]
        else:
            if isinstance(input_size, Sequence) and not isinstance(input_size, str) \
                    and input_size and all(
                        isinstance(s, Sequence) and not isinstance(s, str) for s in input_size):
                shapes = [_shape(s, f"input_size[{i}]") for i, s in enumerate(input_size)]
            else:
                shapes = [_shape(input_size, "input_size")]
            dts = _dtypes(dtypes, [name_at(i) for i in range(len(shapes))])
            args = [InputSpec(name_at(i), s, d)
                    for i, (s, d) in enumerate(zip(shapes, dts, strict=True))]
    arg_tree: list[Any] | None = None
    kwarg_tree: dict[str, Any] | None = None
    if input_data is not None:
        if isinstance(input_data, str | bytes) or not (
                _is_tensor(input_data) or isinstance(input_data, Mapping | Sequence)):
            raise InputError(
                "input_data must be a tensor, a tuple or list of positional arguments, or a "
                f"dict of keyword arguments (tensors, or lists/dicts of tensors), got "
                f"{type(input_data).__name__}"
            )
        if dtypes is not None:
            raise OptionError("dtypes applies to input_size only; input_data tensors keep theirs")
        if _is_tensor(input_data) or (isinstance(input_data, tuple) and hasattr(
                input_data, "_fields")):
            input_data = (input_data,)  # one tensor (or one named tuple): one argument
        arg_tree, kwarg_tree = [], {}
        if isinstance(input_data, Mapping):
            for k, v in input_data.items():
                kwarg_tree[str(k)] = _leaves(v, str(k), kw)
        else:
            for i, v in enumerate(input_data):
                arg_tree.append(_leaves(v, name_at(i), args))
    if kwarg_tree is None and kw:  # keyword shapes (input_size as a dict)
        kwarg_tree = {s.name: Leaf(i) for i, s in enumerate(kw)}
    extra: dict[str, Any] = {}
    for k, v in _keyword_args(kwargs).items():
        if k in (kwarg_tree or {}):
            raise OptionError(f"input {k!r} is given twice (inputs and kwargs)")
        if _holds_tensor(v):
            kwarg_tree = kwarg_tree or {}
            kwarg_tree[k] = _leaves(v, k, kw)
        else:
            extra[k] = v
    if input_data is not None and not args and not kw:
        raise InputError("input_data holds no tensor: give at least one tensor to draw from")
    positional = ({name_at(i) for i in range(len(arg_tree))} if arg_tree is not None
                  else {s.name for s in args})
    clash = sorted(positional & (set(kwarg_tree or ()) | set(extra)))
    if clash:
        raise OptionError(f"input {clash[0]!r} is given twice (inputs and kwargs)")
    if kwarg_tree is not None:  # keyword leaves were counted from 0: they follow args
        kwarg_tree = {k: _shift(v, len(args)) for k, v in kwarg_tree.items()}
    _check_devices(model, (*args, *kw))
    return ModelInputs(tuple(args), tuple(kw), extra,
                       tuple(arg_tree) if arg_tree is not None else None, kwarg_tree)


_MAX_NESTING = 32


def _keyword_args(kwargs: Any) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise OptionError(
            f"kwargs must be a dict of keyword arguments for forward, got "
            f"{type(kwargs).__name__}"
        )
    return {str(k): v for k, v in kwargs.items()}


def _holds_tensor(value: Any, depth: int = 0) -> bool:
    if _is_tensor(value):
        return True
    if depth > _MAX_NESTING or isinstance(value, str | bytes):
        return False
    if isinstance(value, Mapping):
        return any(_holds_tensor(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_tensor(v, depth + 1) for v in value)
    return False


def _leaves(value: Any, name: str, specs: list[InputSpec], depth: int = 0) -> Any:
    """``value`` with each tensor recorded in ``specs`` and replaced by a :class:`Leaf`
    (indexed within ``specs``); lists, tuples and dicts are walked, anything else kept."""
    if _is_tensor(value):
        _check_layout(value, f"input {name!r}")
        specs.append(InputSpec(name, tuple(int(d) for d in value.shape),
                               dtype_name(value.dtype), value))
        return Leaf(len(specs) - 1)
    if depth > _MAX_NESTING:
        raise InputError(f"input {name!r} is nested more than {_MAX_NESTING} levels deep")
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        if isinstance(value, dict) and type(value) is not dict:
            try:
                out = type(value)()  # OrderedDict, defaultdict...
            except Exception:
                out = {}
        for k, v in value.items():
            out[k] = _leaves(v, f"{name}.{k}", specs, depth + 1)
        return out
    if isinstance(value, list):
        return [_leaves(v, f"{name}.{i}", specs, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        items = [_leaves(v, f"{name}.{i}", specs, depth + 1) for i, v in enumerate(value)]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def _shift(tree: Any, by: int) -> Any:
    """Keyword leaves are indexed within the keyword specs; make them global."""
    if isinstance(tree, Leaf):
        return Leaf(tree.index + by)
    if isinstance(tree, list):
        return [_shift(v, by) for v in tree]
    if isinstance(tree, tuple):
        items = [_shift(v, by) for v in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    if isinstance(tree, dict):
        out = type(tree)()
        for k, v in tree.items():
            out[k] = _shift(v, by)
        return out
    return tree


def _check_layout(tensor: Any, where: str) -> None:
    """Only ordinary (strided) tensors: a sparse, nested or MKL-DNN input would be drawn
    from shapes a real run does not produce."""
    import torch

    if tensor.layout != torch.strided or getattr(tensor, "is_nested", False):
        layout = "nested" if getattr(tensor, "is_nested", False) else str(tensor.layout)
        kind = "sparse" if "sparse" in layout else layout.removeprefix("torch.")
        raise InputError(
            f"{where} is a {kind} tensor ({layout}); drawnet draws ordinary dense inputs: "
            "pass .to_dense(), or its shape as input_size"
        )


def _check_devices(model: Any, specs: Sequence[InputSpec]) -> None:
    """Input tensors must be where the model's weights are (any device for a meta model)."""
    devices = {str(d) for d in {t.device for t in (*model.parameters(), *model.buffers())}}
    if not devices or devices == {"meta"}:
        return
    for spec in specs:
        if spec.tensor is None or str(spec.tensor.device) in devices:
            continue
        where = sorted(devices)[0]
        raise InputError(
            f"input {spec.name!r} is on {spec.tensor.device} but the model is on "
            f"{', '.join(sorted(devices))}: move it with .to({where!r}), or pass input_size "
            "and let drawnet make the inputs"
        )


def _dtypes(dtypes: Any, names: list[str]) -> list[str]:
    """One dtype name per input: ``dtypes`` is None, one dtype, a list, or a dict by name."""
    n = len(names)
    if dtypes is None:
        return ["float32"] * n
    if isinstance(dtypes, Mapping):
        unknown = [str(k) for k in dtypes if k not in names]
        if unknown:
            raise OptionError(
                f"dtypes names unknown inputs: {', '.join(repr(k) for k in unknown)} "
                f"(inputs are {', '.join(repr(k) for k in names)})"
            )
        return [dtype_name(dtypes[k]) if dtypes.get(k) is not None else "float32"
                for k in names]
    if isinstance(dtypes, str) or not isinstance(dtypes, Sequence):
        return [dtype_name(dtypes)] * n
    if len(dtypes) != n:
        raise OptionError(f"dtypes has {len(dtypes)} entries but there are {n} inputs")
    return [dtype_name(d) if d is not None else "float32" for d in dtypes]


def materialize(inputs: ModelInputs, device: Any, *, fill: bool) -> tuple[
    tuple[Any, ...], dict[str, Any]
]:
    """Make the arguments for one run: tensors on ``device``, with values only when
    ``fill`` (see :func:`make_leaves`), placed in the arguments' structure."""
    return inputs.assemble(make_leaves(inputs, device, fill=fill))


def make_leaves(inputs: ModelInputs, device: Any, *, fill: bool) -> list[Any]:
    """The tensor inputs for one run, one per spec (positional first): on ``device``;
    with values only when ``fill``.

    Float inputs are drawn from a private generator seeded with 0 (the global RNG is not
    touched); integer inputs (token ids) are zeros, a valid index for any vocabulary. A
    tensor the user gave is used on ``meta`` as a meta copy; for a real run (``fill``)
    it is cloned, so a forward that writes into its input leaves the user's tensor alone.
    """
    import torch

    gen = torch.Generator().manual_seed(0)

    def make(spec: InputSpec) -> Any:
        dtype = getattr(torch, spec.dtype)
        if spec.tensor is not None:
            t = spec.tensor
            if str(device) == "meta":
                return t.to(device="meta")
            return t.clone() if fill else t
        if str(device) == "meta" or not fill:
            return torch.empty(spec.shape, dtype=dtype, device=device)
        if dtype.is_floating_point:
            return torch.randn(spec.shape, generator=gen).to(dtype=dtype, device=device)
        if dtype == torch.bool:
            return torch.ones(spec.shape, dtype=dtype, device=device)
        return torch.zeros(spec.shape, dtype=dtype, device=device)

    return [make(s) for s in inputs.specs]
