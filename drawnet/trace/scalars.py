"""Values the meta tracer cannot give, computed where they cost nothing or assumed and said.

A ``meta`` tensor has a shape and no values, so ``.item()``, ``if mask.all():``,
``.tolist()``, ``nonzero``, ``torch.where(cond)`` or a boolean-mask index stop a meta
trace. Most such values in real models do not depend on the weights: attention masks,
position ids, padding checks, lengths. :class:`Values` keeps, beside the meta run, a real
CPU copy ("value") of every small tensor that can be computed without the weights:

- the inputs (the user's ``input_data``, or the values drawnet's real-run tracer fills in:
  seeded random floats, zero ids, true masks) and small integer or boolean buffers
  (``position_ids``, masks; for a transformers model on ``meta``, the values its own
  init code writes, :mod:`drawnet.trace.buffers`), copied so the model is never
  touched; never the weights;
- tensors made in ``forward`` by factories (``torch.arange(n, device=x.device)``), and
  real CPU tensors the model makes (``torch.tensor([1., 2.])``), which the meta run then
  uses as meta tensors;
- every op whose tensor inputs all have values and whose result stays small
  (:data:`LIMIT` elements): it runs for real on CPU and its meta result is made from the
  real one (same shape, strides and dtype), so the meta kernel is not run at all.

Reads (``item``, ``bool``, ``tolist``, data-dependent shapes, a 0-d tensor that an op
reads as a number, such as ``F.pad``'s amounts) of such values are answered exactly:
the drawing is what a real run with these inputs draws, and ``graph.meta`` notes that
values were read. Where a value depends on the weights, nothing is guessed
for a branch or a number (the meta trace stops as before and ``auto`` moves on), with
three stated exceptions that keep the trace going and are recorded as notes:

- *counts*: ``nonzero``, one-argument ``torch.where``, ``masked_select``, boolean-mask
  indexing, ``unique``, ``bincount`` and ``repeat_interleave`` of a tensor without values
  assume every element is selected (non-zero, distinct, repeated once): an upper bound;
- *choices*: the indices of ``topk``, ``argmax``/``argmin``, ``max``/``min`` over a dim
  and ``sort``/``argsort`` of a tensor without values are assumed spread evenly over the
  choices (identity order for sorts). Mixture-of-experts routing is such a choice: which
  expert gets which token follows from the assumption, the number of routed tokens
  (``tokens × top_k``) does not depend on it. The note is written only when a value that
  follows from the assumption is read;
- *checks*: the condition of ``torch._check_tensor_all`` (a check, not a branch: a real
  run either goes on or raises) is assumed to hold.

Public torch APIs only (and ``torch._check_tensor_all_with``, the function behind the
documented ``torch._check_tensor_all``, recognised by its code object on the Python
stack); nothing here touches the user's tensors.
"""

from __future__ import annotations

import math
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any

LIMIT = 1 << 18
"""Largest tensor (elements) kept with a CPU value; bigger ones are meta only."""
READ_LIMIT = 1 << 24
"""Largest input a value read or data-dependent op computes on for real."""
BUDGET = 1 << 27
"""Elements computed on CPU in one trace before values stop being made (a guard)."""

NOTHING: Any = object()
"""Returned by :meth:`Values.call` when the op is left to the meta run."""

# Reads that leave the tensor world: their answer is a Python value.
_READS = frozenset({"item", "tolist", "__bool__", "__int__", "__float__", "__index__",
                    "__complex__", "__contains__", "is_nonzero", "equal", "allclose",
                    "__array__", "numpy"})
# Ops whose output shape depends on values, and which argument decides it.
_SHAPE_READS = {"nonzero": 0, "argwhere": 0, "where": 0, "unique": 0,
                "unique_consecutive": 0, "bincount": 0, "masked_select": 1,
                "_pack_padded_sequence": 1, "_pad_packed_sequence": 1}
# Outputs a real run keeps on the CPU (packed-sequence batch sizes and lengths).
_CPU_OUTPUTS = {"_pack_padded_sequence": 1, "_pad_packed_sequence": 1}
# Ops that only look at metadata: the meta tensor answers them.
_METADATA = frozenset({
    "size", "dim", "shape", "numel", "stride", "is_contiguous", "data_ptr", "element_size",
    "is_floating_point", "is_complex", "__len__", "get_device", "untyped_storage",
    "storage_offset", "requires_grad_", "_has_compatible_shallow_copy_type", "__format__",
    "__repr__", "__str__", "__hash__", "__reduce_ex__", "__deepcopy__", "__setstate__",
    "type", "is_pinned", "is_shared", "nelement", "ndimension", "register_hook",
    "retain_grad", "backward", "__dlpack__",
})
# In-place ops that change the shape or strides of ``self``.
_RESHAPING_INPLACE = frozenset({"resize_", "resize_as_", "set_", "as_strided_", "squeeze_",
                                "unsqueeze_", "transpose_", "t_", "swapdims_", "swapaxes_"})
_FACTORIES = frozenset({
    "arange", "range", "zeros", "ones", "full", "empty", "tensor", "as_tensor", "linspace",
    "logspace", "eye", "rand", "randn", "randint", "randperm", "scalar_tensor",
    "tril_indices", "triu_indices", "empty_strided",
})
# Ops whose result needs the shape, dtype and device of their tensor argument, not its
# values (when no other tensor is passed).
_VALUE_FREE = frozenset({"zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
                         "randn_like", "randint_like", "new_zeros", "new_ones", "new_full",
                         "new_empty", "new_tensor", "new_empty_strided"})
# Ops that choose among values; their index outputs get assumed values (see module doc).
_CHOICES = frozenset({"topk", "argmax", "argmin", "max", "min", "sort", "argsort", "kthvalue"})
_INDEX_ONLY = frozenset({"argmax", "argmin", "argsort"})
_TO_CPU = frozenset({"cpu", "numpy", "__array__"})
_META_READ_ERRORS = ("cannot be called on meta", "Cannot copy out of meta")
"""What torch says when an op reads a value of a meta tensor."""
# Ops that need more than a look-up even when no input has a value.
_SPECIAL = _CHOICES | _VALUE_FREE | frozenset(_SHAPE_READS) | frozenset({
    "__getitem__", "__setitem__", "repeat_interleave", "__iter__"})


def _is_inplace(name: str, kwargs: dict[str, Any]) -> bool:
    if "out" in kwargs:
        return True
    if name.startswith("__"):
        return name == "__setitem__" or (name.startswith("__i") and name not in (
            "__index__", "__int__", "__invert__", "__iter__"))
    return name.endswith("_") and not name.startswith("_")


class _Entry:
    """A meta tensor's value: a CPU tensor, or a function making it on first use."""

    __slots__ = ("meta", "origins", "value")

    def __init__(self, meta: Any, value: Any, origins: frozenset[str]) -> None:
        self.meta = weakref.ref(meta)
        self.value = value
        self.origins = origins


class Values:
    """CPU values beside one meta run (see the module docstring).

    ``place`` names where the run is (``in layers.0.mlp.gate · MixtralTopKRouter``) for
    notes; ``mix_cpu`` lets real CPU tensors made in ``forward`` join meta ops (true for
    a model whose weights are on the CPU or on meta, where a real run would mix them too);
    ``run(func, name, args, kwargs)`` runs an op on meta tensors (the tracer's own way,
    with its shortcuts).

    Example:
        >>> import torch
        >>> values = Values(lambda: "in Net.forward")
        >>> mask = torch.empty(1, 4, dtype=torch.bool, device="meta")
        >>> values.set(mask, torch.tensor([[True, True, True, False]]))
        >>> total = values.call(torch.Tensor.sum, "sum", (mask,), {})
        >>> total.device.type, values.call(torch.Tensor.item, "item", (total,), {})
        ('meta', 3)
        >>> values.notes()[0].split(",")[0]
        'forward read 1 tensor value (first in Net.forward)'
    """

    def __init__(self, place: Callable[[], str], *, mix_cpu: bool = True,
                 limit: int = LIMIT, run: Callable[..., Any] | None = None) -> None:
        import torch

        self._torch = torch
        self._place = place
        self._run = run or _call
        self._mix_cpu = mix_cpu
        self._limit = limit
        self._table: dict[int, _Entry] = {}
        self._spent = 0
        self._reads = 0
        self._first_read = ""
        self._assumed: dict[str, None] = {}  # notes, in order, without repeats
        self._read_origins: dict[str, None] = {}

    # -- the table ------------------------------------------------------------------
    def has(self, t: Any) -> bool:
        """Whether meta tensor ``t`` has a value (without making a lazy one)."""
        entry = self._table.get(id(t))
        return entry is not None and entry.meta() is t

    def get(self, t: Any) -> Any:
        """The CPU value of meta tensor ``t``, or None."""
        entry = self._table.get(id(t))
        if entry is None or entry.meta() is not t:
            return None
        if callable(entry.value):
            entry.value = entry.value()
        return entry.value

    def _origins(self, t: Any) -> frozenset[str]:
        entry = self._table.get(id(t))
        if entry is None or entry.meta() is not t:
            return frozenset()
        return entry.origins

    def set(self, meta: Any, value: Any, origins: frozenset[str] = frozenset()) -> None:
        """Record ``value`` (a CPU tensor, or a function returning one) for ``meta``."""
        self._table[id(meta)] = _Entry(meta, value, origins)

    def _drop(self, meta: Any) -> None:
        """Forget the value of ``meta`` and of every tensor sharing its storage."""
        entry = self._table.pop(id(meta), None)
        if entry is None or callable(entry.value):
            return
        try:
            ptr = entry.value.untyped_storage().data_ptr()
        except (RuntimeError, AttributeError):
            return
        for key, other in list(self._table.items()):
            if callable(other.value):
                continue
            try:
                if other.value.untyped_storage().data_ptr() == ptr:
                    del self._table[key]
            except (RuntimeError, AttributeError):
                continue

    def seed(self, meta: Any, real: Any) -> None:
        """Give meta tensor ``meta`` a copy of the real tensor ``real`` as its value when
        it is small. The copy is made on first use, and the trace never writes into the
        user's tensors."""
        torch = self._torch
        if not isinstance(real, torch.Tensor) or real.device.type == "meta" \
                or real.numel() > self._limit or real.is_sparse or real.is_quantized:
            return
        self.set(meta, lambda: real.detach().to("cpu", copy=True))

    def seed_fill(self, meta: Any) -> None:
        """Give an input drawnet made up the value a real-run trace feeds the model:
        seeded random floats, zero ids, true masks (made on first use)."""
        torch = self._torch
        if meta.numel() > self._limit:
            return
        shape, dtype = tuple(meta.shape), meta.dtype

        def make() -> Any:
            if dtype.is_floating_point or dtype.is_complex:
                return torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(dtype)
            if dtype == torch.bool:
                return torch.ones(shape, dtype=dtype)
            return torch.zeros(shape, dtype=dtype)

        self.set(meta, make)

    # -- notes ----------------------------------------------------------------------
    def notes(self) -> list[str]:
        """What the run read and what it assumed, for ``graph.meta`` notes."""
        out: list[str] = []
        if self._reads:
            n = self._reads
            out.append(
                f"forward read {n} tensor value{'s' if n != 1 else ''} (first "
                f"{self._first_read}), computed from the inputs as a real "
                "run computes them: the drawing follows the path these inputs take")
        out.extend(_grouped(self._assumed))
        later = {o: None for o in self._read_origins if o not in self._assumed}
        out.extend(f"{n}; values read later follow from that assumption"
                   for n in _grouped(later))
        return out

    def _note_read(self, tensors: list[Any]) -> None:
        origins: set[str] = set()
        for t in tensors:
            origins |= self._origins(t)
        if origins:
            for o in sorted(origins):
                self._read_origins.setdefault(o, None)
            return
        self._reads += 1
        if not self._first_read:
            self._first_read = self._place()

    # -- the hook -------------------------------------------------------------------
    def call(self, func: Callable[..., Any], name: str, args: Any,
             kwargs: dict[str, Any]) -> Any:
        """Run one intercepted call with values where possible; :data:`NOTHING` leaves it
        to the meta run (which raises as before on a value it cannot give)."""
        if name == "__format__" and args and self.has(args[0]) and args[0].dim() == 0:
            # f"expert_{idx}": a real 0-d tensor formats as its number
            self._note_read([args[0]])
            spec = args[1] if len(args) > 1 else kwargs.get("format_spec", "")
            return format(self.get(args[0]).item(), spec)
        if name in _METADATA or self._spent > BUDGET:
            return NOTHING
        if name == "item" and args and not self.has(args[0]) and _in_tensor_check(
                self._torch):
            return self._assume_check(args[0])
        torch = self._torch
        if getattr(func, "__name__", None) == "__get__":
            # a property (``t.shape``, ``t.device``, ``t.T``): the meta tensor answers, and
            # only a tensor result (``t.T``, ``t.real``) needs a value
            result = func(*args, **kwargs)
            if isinstance(result, torch.Tensor) and args and isinstance(
                    args[0], torch.Tensor) and self.has(args[0]):
                self._compute(func, name, args, kwargs, [args[0]], known=result)
            return result
        tensors = _tensor_list(args, kwargs, torch.Tensor)
        if not tensors:
            if name in _FACTORIES and _meta_device(kwargs, torch):
                return self._factory(func, args, kwargs)
            return NOTHING
        if name not in _SPECIAL:  # the common case: meta tensors without values
            table = self._table
            for t in tensors:
                if t.device.type != "meta" or id(t) in table:
                    break
            else:
                return NOTHING
        metas = [t for t in tensors if t.device.type == "meta"]
        if not metas:
            if _names_meta(args, kwargs, torch):  # ``cpu_mask.to(x.device)``
                return self._factory(func, args, kwargs)
            return NOTHING  # a real op on real tensors: it simply runs
        # A real CPU scalar tensor mixes with any device; other real tensors join as meta.
        reals = [t for t in tensors if t.device.type != "meta" and t.dim() > 0]
        if reals and (not self._mix_cpu or any(t.device.type != "cpu" for t in reals)):
            return NOTHING  # a real run would refuse this mix too: let torch say so
        if name in _VALUE_FREE and len(tensors) == 1:
            return self._value_free(func, args, kwargs)
        missing = [t for t in metas if not self.has(t)]
        if name == "__iter__":
            if missing or tensors[0].dim() == 0:
                return NOTHING
            return iter(self.call(torch.Tensor.unbind, "unbind", (tensors[0],), {}))
        decides = _deciding(name, args, kwargs, torch)
        if decides is not None or _bool_index(name, args, torch):
            return self._shape_read(func, name, args, kwargs, tensors, decides)
        if not missing:
            result = self._compute(func, name, args, kwargs, tensors)
            if result is not NOTHING:
                return result
        if _is_inplace(name, kwargs):
            self._drop_targets(args, kwargs)
        if reals:  # real CPU tensors made in forward join a meta op as meta tensors
            meta_args, meta_kwargs = _map(args, kwargs, _same, torch, to_meta=True)
            result = self._run(func, name, meta_args, meta_kwargs)
        elif name in _CHOICES:
            result = self._run(func, name, args, kwargs)
        else:
            numbers = [t for t in metas if t.dim() == 0 and self.has(t)]
            return self._with_numbers(func, name, args, kwargs, numbers) if numbers \
                else NOTHING
        if name in _CHOICES and missing:
            self._assume_choices(name, args, kwargs, result)
        return result

    def _with_numbers(self, func: Callable[..., Any], name: str, args: Any,
                      kwargs: dict[str, Any], numbers: list[Any]) -> Any:
        """An op on meta tensors that also takes 0-d tensors with values: where torch reads
        one as a number (``F.pad(x, (pad_left, pad_right))``, ``x.view(n, -1)`` with
        0-d tensors), which a meta tensor cannot give, the number is read from its value,
        as a real run reads it. Any other failure is left to the meta run."""
        try:
            return func(*args, **kwargs)
        except Exception as e:
            if not any(m in str(e) for m in _META_READ_ERRORS):
                return NOTHING
        values = {id(t): self.get(t).item() for t in numbers}
        new_args, new_kwargs = _map(args, kwargs, lambda t: values.get(id(t), t), self._torch)
        self._note_read(numbers)
        return self._run(func, name, new_args, new_kwargs)

    def _assume_check(self, cond: Any) -> bool:
        """``torch._check_tensor_all(cond)`` on a condition whose values depend on the
        weights: a check, not a branch; assumed to hold (a real run raises where it does
        not, and draws nothing)."""
        where = self._place()
        shape = "×".join(str(d) for d in cond.shape) or "scalar"
        note = _origin("assumed a check holds: torch._check_tensor_all {where} reads a "
                       f"{shape} condition whose values depend on the weights (a real run "
                       "raises where it does not)", where)
        self._assumed.setdefault(note, None)
        return True

    # -- computing on CPU -------------------------------------------------------------
    def _compute(self, func: Callable[..., Any], name: str, args: Any,
                 kwargs: dict[str, Any], tensors: list[Any], *, known: Any = None,
                 read: bool = False, proxies: bool = False) -> Any:
        """Run the op on the CPU values; meta results are made from the real ones.

        With ``proxies``, meta tensors without values stand in as zeros (for an op whose
        output shape depends only on the tensors that have values); its outputs then get
        no values. Returns :data:`NOTHING` when the tensors are too big or CPU refuses.
        """
        torch = self._torch
        reads = read or name in _READS
        size = sum(t.numel() for t in tensors)
        largest = max((t.numel() for t in tensors), default=0)  # where(mask, x, y): 3 inputs
        if (size if reads else largest) > (READ_LIMIT if reads else self._limit) or (
                not reads and _estimate(tensors, torch) > self._limit):
            return NOTHING
        inplace = _is_inplace(name, kwargs)
        swap: dict[int, Any] = {}
        proxied = False
        for t in tensors:
            if t.device.type != "meta":
                swap[id(t)] = t
            elif self.has(t):
                swap[id(t)] = self.get(t)
            elif proxies:
                swap[id(t)] = torch.zeros(tuple(t.shape), dtype=t.dtype)
                proxied = True
            else:
                return NOTHING
        cpu_args, cpu_kwargs = _map(args, kwargs, lambda t: swap[id(t)], torch, to_cpu=True)
        try:
            real = func(*cpu_args, **cpu_kwargs)
        except Exception:
            if inplace:
                self._drop_targets(args, kwargs)
            return NOTHING  # the meta run gives the answer, or torch's own error
        self._spent += size
        if reads:
            self._note_read([t for t in tensors if t.device.type == "meta"])
        if name in _READS or name in _TO_CPU or (name == "to" and _to_cpu(args, kwargs, torch)):
            return real
        origins = frozenset().union(*(self._origins(t) for t in tensors))
        if inplace:
            target = args[0] if args else None
            if name in _RESHAPING_INPLACE or "out" in kwargs or not isinstance(
                    target, torch.Tensor):
                meta_args, meta_kwargs = _map(args, kwargs, _same, torch, to_meta=True)
                result = self._run(func, name, meta_args, meta_kwargs)
            else:
                result = None if name == "__setitem__" else target
            if proxied and isinstance(target, torch.Tensor):
                self._drop(target)
            elif isinstance(target, torch.Tensor) and origins and self.has(target):
                self.set(target, self.get(target), self._origins(target) | origins)
            return result
        if known is not None:
            if isinstance(real, torch.Tensor) and not proxied:
                self._keep(known, real, origins)
            return known
        kept = _CPU_OUTPUTS.get(name)
        if kept is not None and isinstance(real, tuple) and len(real) > kept:
            return tuple(r if i == kept else self._twin(r, origins, keep=not proxied)
                         for i, r in enumerate(real))
        return _rebuild(real, lambda r: self._twin(r, origins, keep=not proxied), torch)

    def _twin(self, real: Any, origins: frozenset[str], *, keep: bool) -> Any:
        """A new meta tensor for the real result (also where the op handed back one of its
        inputs, ``x.contiguous()``, as the meta shortcuts do; both share the value)."""
        if real.device.type != "cpu":
            return real
        meta = self._torch.empty_strided(tuple(real.shape), tuple(real.stride()),
                                         dtype=real.dtype, device="meta")
        if keep:
            self._keep(meta, real, origins)
        return meta

    def _keep(self, meta: Any, real: Any, origins: frozenset[str]) -> None:
        if real.numel() <= self._limit:
            self.set(meta, real, origins)

    def _factory(self, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
        torch = self._torch
        result = func(*args, **kwargs)
        if not isinstance(result, torch.Tensor) or result.numel() > self._limit:
            return result
        cpu_args, cpu_kwargs = _map(args, kwargs, _same, torch, to_cpu=True)
        try:
            real = func(*cpu_args, **cpu_kwargs)
        except Exception:
            return result
        if isinstance(real, torch.Tensor) and tuple(real.shape) == tuple(result.shape):
            self._spent += real.numel()
            if any(real is a for a in args):
                real = real.clone()  # ``.to()`` handed back its own input: keep a copy
            self.set(result, real)
        return result

    def _value_free(self, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
        """``zeros_like(x)``, ``x.new_ones(...)``: the result needs x's shape, not values."""
        torch = self._torch
        result = func(*args, **kwargs)
        if not isinstance(result, torch.Tensor) or result.numel() > self._limit:
            return result

        def proxy(t: Any) -> Any:
            return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype)

        cpu_args, cpu_kwargs = _map(args, kwargs, proxy, torch, to_cpu=True)
        try:
            real = func(*cpu_args, **cpu_kwargs)
        except Exception:
            return result
        if isinstance(real, torch.Tensor) and tuple(real.shape) == tuple(result.shape):
            self.set(result, real)
        return result

    # -- values that decide shapes ----------------------------------------------------
    def _shape_read(self, func: Callable[..., Any], name: str, args: Any,
                    kwargs: dict[str, Any], tensors: list[Any], decides: Any) -> Any:
        """nonzero & co.: computed on the value of the tensor that decides the output
        shape, assumed (every element selected) where that tensor has none."""
        if decides is None:  # a boolean-mask index
            return self._index_by_mask(func, name, args, kwargs)
        if decides.device.type == "meta" and not self.has(decides):
            if decides.numel() > READ_LIMIT:
                return NOTHING
            self._assume_count(name, decides)
        if name == "repeat_interleave" and len(tensors) > 1:
            if all(t.device.type != "meta" or self.has(t) for t in tensors):
                # every input has a value (lengths from a grid): so has the result
                result = self._compute(func, name, args, kwargs, tensors, read=True)
                if result is not NOTHING:
                    return result
            return self._repeat(func, args, kwargs, decides)
        return self._compute(func, name, args, kwargs, tensors, read=True, proxies=True)

    def _assume_count(self, name: str, t: Any) -> None:
        torch = self._torch
        if name in ("unique", "unique_consecutive", "bincount"):
            value = torch.arange(t.numel()).reshape(t.shape).to(t.dtype)
            what = ("every element distinct" if name != "bincount"
                    else "the values 0..n-1, one count each")
        elif name == "repeat_interleave":
            value = torch.ones(t.shape, dtype=t.dtype)
            what = "each element repeated once"
        else:
            value = torch.ones(t.shape, dtype=t.dtype)
            what = "every element selected (non-zero)"
        op = "torch.where" if name == "where" else name
        self._assume(t, what, value, op)

    def _assume(self, t: Any, what: str, value: Any, op: str) -> None:
        where = self._place()
        shape = "×".join(str(d) for d in t.shape) or "scalar"
        note = _origin(f"assumed {what}: {op} {{where}} reads a {shape} tensor whose values "
                       "depend on the weights (a real run may select fewer)", where)
        self._assumed.setdefault(note, None)
        self.set(t, value, frozenset({note}))

    def _repeat(self, func: Callable[..., Any], args: Any, kwargs: dict[str, Any],
                repeats: Any) -> Any:
        """``repeat_interleave(x, repeats)``: the output size from the repeats' value."""
        torch = self._torch
        value = self.get(repeats) if repeats.device.type == "meta" else repeats
        if value is None:
            return NOTHING
        x = args[0]
        dim = kwargs.get("dim", args[2] if len(args) > 2 else None)
        if value.dim() == 0 or value.numel() == 1:
            count = x.numel() if dim is None else int(x.shape[dim])
            size = int(value.reshape(-1)[0]) * count
        else:
            size = int(value.sum())
        self._note_read([repeats])
        new_kwargs = {**kwargs, "output_size": size}
        new_args, new_kwargs = _map(args, new_kwargs, _same, torch, to_meta=True)
        return self._run(func, "repeat_interleave", new_args, new_kwargs)

    def _index_by_mask(self, func: Callable[..., Any], name: str, args: Any,
                       kwargs: dict[str, Any]) -> Any:
        """``x[mask]``, ``x[mask] = v`` with a boolean mask: index with the mask's positions
        (from its value, or assuming every element selected); ``x[i]`` with a 0-d integer
        tensor: index with its value, as torch does."""
        torch = self._torch
        target, index = args[0], args[1]
        items = list(index) if isinstance(index, tuple) else [index]
        out: list[Any] = []
        for item in items:
            if isinstance(item, torch.Tensor) and item.dim() == 0 and item.device.type == "meta" \
                    and not item.dtype.is_floating_point and item.dtype != torch.bool:
                if not self.has(item):  # ``x[i]`` with a 0-d index: torch reads its value
                    return NOTHING
                self._note_read([item])
                out.append(int(self.get(item)))
            elif isinstance(item, torch.Tensor) and item.dtype in (torch.bool, torch.uint8):
                if item.device.type == "meta" and not self.has(item):
                    if item.numel() > READ_LIMIT:
                        return NOTHING
                    self._assume(item, "every element selected",
                                 torch.ones(item.shape, dtype=item.dtype),
                                 "a boolean-mask index")
                value = self.get(item) if item.device.type == "meta" else item
                self._note_read([item])
                for pos in value.nonzero(as_tuple=True):
                    meta = torch.empty(tuple(pos.shape), dtype=pos.dtype, device="meta")
                    self.set(meta, pos, self._origins(item))
                    out.append(meta)
            else:
                out.append(item)
        new_index = tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]
        new_args = (target, new_index, *args[2:])
        tensors = list(_tensors(new_args, kwargs, torch))
        if all(t.device.type != "meta" or self.has(t) for t in tensors):
            result = self._compute(func, name, new_args, kwargs, tensors)
            if result is not NOTHING:
                return result
        if name == "__setitem__":
            self._drop(target)
        new_args, new_kwargs = _map(new_args, kwargs, _same, torch, to_meta=True)
        return self._run(func, name, new_args, new_kwargs)

    # -- choices ----------------------------------------------------------------------
    def _drop_targets(self, args: Any, kwargs: dict[str, Any]) -> None:
        torch = self._torch
        for t in (args[0] if args else None, kwargs.get("out")):
            if isinstance(t, torch.Tensor):
                self._drop(t)

    def _assume_choices(self, name: str, args: Any, kwargs: dict[str, Any],
                        result: Any) -> None:
        """Give the index output of ``topk``/``argmax``/``sort``... of a tensor without
        values an assumed value; it is noted only if a value that follows is read."""
        torch = self._torch
        x = args[0] if args else kwargs.get("input")
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            return
        if name in _INDEX_ONLY:
            indices = result if isinstance(result, torch.Tensor) else None
        elif isinstance(result, tuple) and len(result) == 2 and \
                isinstance(result[1], torch.Tensor):
            indices = result[1]
        else:
            indices = None  # torch.max(x) or an elementwise max: no indices
        if indices is None or indices.dtype != torch.long or indices.numel() > self._limit:
            return
        dim = _dim_arg(name, args, kwargs)
        where = self._place()
        if dim is None and name in ("argmax", "argmin"):
            value = torch.zeros(tuple(indices.shape), dtype=torch.long)
            n = x.numel()
        else:
            d = (dim if dim is not None else -1) % x.dim()
            n = int(x.shape[d])
            if indices.dim() != x.dim():  # argmax / max over dim without keepdim
                value = torch.arange(indices.numel()).reshape(tuple(indices.shape)) % max(n, 1)
            else:
                value = _spread(torch, tuple(indices.shape), d, n,
                                identity=name in ("sort", "argsort"))
        if name == "topk":
            k = int(indices.shape[(dim if dim is not None else -1) % indices.dim()])
            what = (f"routing assumed: top-{k} of {n} {{where}} spreads the rows evenly over "
                    f"the {n} choices (a real run chooses by the weights; {k} per row is exact)")
        elif name in ("sort", "argsort"):
            what = f"order assumed: {name} {{where}} takes the rows as already sorted"
        else:
            what = (f"choice assumed: {name} {{where}} spreads the rows evenly over the {n} "
                    "choices (a real run chooses by the weights)")
        self.set(indices, value, frozenset({_origin(what, where)}))


# -- helpers ----------------------------------------------------------------------------
def _in_tensor_check(torch: Any, depth: int = 8) -> bool:
    """Whether the caller is ``torch._check_tensor_all_with`` (within ``depth`` frames):
    the value read is the condition of a check, not of a branch."""
    check = getattr(getattr(torch, "_check_tensor_all_with", None), "__code__", None)
    if check is None:
        return False
    frame = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code is check:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _origin(template: str, where: str) -> str:
    """An assumption: its text with a ``{where}`` slot, and the place it was made."""
    return f"{template}\x00{where}"


def _grouped(origins: dict[str, None]) -> list[str]:
    """One note per assumption text, naming the first place and how many more."""
    places: dict[str, list[str]] = {}
    for o in origins:
        template, _, where = o.partition("\x00")
        places.setdefault(template, []).append(where)
    out = []
    for template, wheres in places.items():
        text = wheres[0] if len(wheres) == 1 else (
            f"{wheres[0]} (and {len(wheres) - 1} more like it)")
        out.append(template.replace("{where}", text))
    return out


def _same(t: Any) -> Any:
    return t


def _call(func: Callable[..., Any], name: str, args: Any, kwargs: dict[str, Any]) -> Any:
    return func(*args, **kwargs)


def _tensor_list(args: Any, kwargs: dict[str, Any], tensor: type) -> list[Any]:
    """Every tensor in ``args`` and ``kwargs`` (as :func:`_tensors`), fast for flat calls."""
    out: list[Any] = []
    for group in (args, kwargs.values()):
        for a in group:
            if isinstance(a, tensor):
                out.append(a)
            elif isinstance(a, list | tuple | slice | dict):
                out.extend(_tensors((a,), {}, _Torch(tensor)))
    return out


class _Torch:
    """The one attribute :func:`_tensors` needs from the torch module."""

    def __init__(self, tensor: type) -> None:
        self.Tensor = tensor


def _tensors(args: Any, kwargs: dict[str, Any], torch: Any) -> Iterator[Any]:
    def walk(v: Any, depth: int) -> Iterator[Any]:
        if isinstance(v, torch.Tensor):
            yield v
        elif depth < 3 and isinstance(v, list | tuple):
            for item in v:
                yield from walk(item, depth + 1)
        elif depth < 3 and isinstance(v, slice):
            for item in (v.start, v.stop, v.step):
                yield from walk(item, depth + 1)
        elif depth < 2 and type(v) is dict:
            for item in v.values():
                yield from walk(item, depth + 1)

    yield from walk(args, 0)
    for v in kwargs.values():
        yield from walk(v, 1)


def _map(args: Any, kwargs: dict[str, Any], fn: Callable[[Any], Any], torch: Any, *,
         to_cpu: bool = False, to_meta: bool = False) -> tuple[Any, dict[str, Any]]:
    """``args`` and ``kwargs`` with every tensor passed through ``fn`` (then moved to meta
    when ``to_meta``), and a meta device replaced by the CPU when ``to_cpu``."""

    def conv(v: Any, depth: int) -> Any:
        if isinstance(v, torch.Tensor):
            out = fn(v)
            if to_meta and out.device.type != "meta" and out.dim() > 0:
                out = out.to("meta")
            return out
        if to_cpu and ((isinstance(v, torch.device) and v.type == "meta")
                       or (isinstance(v, str) and v == "meta")):
            return torch.device("cpu")
        if depth < 3 and isinstance(v, list | tuple):
            return _same_kind(v, [conv(x, depth + 1) for x in v])
        if depth < 3 and isinstance(v, slice):
            return slice(conv(v.start, depth + 1), conv(v.stop, depth + 1),
                         conv(v.step, depth + 1))
        if depth < 2 and type(v) is dict:
            return {k: conv(x, depth + 1) for k, x in v.items()}
        return v

    new_args = tuple(conv(a, 1) for a in args)
    new_kwargs = {k: conv(v, 1) for k, v in kwargs.items()}
    return new_args, new_kwargs


def _same_kind(value: list[Any] | tuple[Any, ...], items: list[Any]) -> Any:
    """``items`` in a container of the kind ``value`` is (list, tuple, torch.Size, a named
    tuple or torch's structseq return types)."""
    kind = type(value)
    if kind in (list, tuple):
        return kind(items)
    if hasattr(value, "_fields"):
        return kind(*items)
    return kind(items)


def _rebuild(value: Any, fn: Callable[[Any], Any], torch: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, list | tuple):
        return _same_kind(value, [_rebuild(v, fn, torch) for v in value])
    return value


def _names_meta(args: Any, kwargs: dict[str, Any], torch: Any) -> bool:
    """Whether a positional or keyword argument is the meta device."""
    return _meta_device(kwargs, torch) or any(
        (isinstance(a, torch.device) and a.type == "meta") or (isinstance(a, str) and a == "meta")
        for a in args[1:])


def _meta_device(kwargs: dict[str, Any], torch: Any) -> bool:
    device = kwargs.get("device")
    return (isinstance(device, torch.device) and device.type == "meta") or (
        isinstance(device, str) and device == "meta")


def _to_cpu(args: Any, kwargs: dict[str, Any], torch: Any) -> bool:
    for v in (*args[1:], kwargs.get("device")):
        if (isinstance(v, torch.device) and v.type == "cpu") or (
                isinstance(v, str) and v.split(":")[0] == "cpu"):
            return True
    return False


def _deciding(name: str, args: Any, kwargs: dict[str, Any], torch: Any) -> Any:
    """The tensor whose values decide the output shape of a data-dependent op, or None."""
    if name == "where" and len(args) + len(kwargs) != 1:
        return None
    if name == "repeat_interleave":
        r = kwargs.get("repeats", args[1] if len(args) > 1 else None)
        if isinstance(r, torch.Tensor):
            return r
        if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
            return args[0]  # repeat_interleave(repeats)
        return None
    index = _SHAPE_READS.get(name)
    if index is None:
        return None
    value = args[index] if len(args) > index else (
        kwargs.get("mask") if name == "masked_select" else kwargs.get("input"))
    return value if isinstance(value, torch.Tensor) else None


def _bool_index(name: str, args: Any, torch: Any) -> bool:
    """``x[mask]`` with a boolean mask, or ``x[i]`` with a 0-d integer meta tensor: an index
    whose values decide the result's shape."""
    if name not in ("__getitem__", "__setitem__") or len(args) < 2:
        return False
    index = args[1]
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and (
        i.dtype in (torch.bool, torch.uint8)
        or (i.dim() == 0 and i.device.type == "meta" and not i.dtype.is_floating_point))
        for i in items)


def _estimate(tensors: list[Any], torch: Any) -> int:
    """Elements an op on these tensors likely makes (their broadcast shape, or the largest
    when they do not broadcast)."""
    out: list[int] = []
    for t in tensors:
        shape = tuple(t.shape)
        if len(shape) > len(out):
            out = [1] * (len(shape) - len(out)) + out
        for i, d in enumerate(shape, start=len(out) - len(shape)):
            if out[i] == 1:
                out[i] = d
            elif d not in (1, out[i]):
                return int(max(t.numel() for t in tensors))
    return math.prod(out)


def _dim_arg(name: str, args: Any, kwargs: dict[str, Any]) -> int | None:
    if "dim" in kwargs:
        d = kwargs["dim"]
    elif name in ("topk", "kthvalue"):
        d = args[2] if len(args) > 2 else None
    else:
        d = args[1] if len(args) > 1 else None
    return d if isinstance(d, int) and not isinstance(d, bool) else None


def _spread(torch: Any, shape: tuple[int, ...], dim: int, n: int, *, identity: bool) -> Any:
    """Index values along ``dim`` of ``shape``: row r, slot j -> (r·k + j) mod n (distinct
    within a row, every choice used equally often), or 0..k-1 when ``identity``."""
    k = shape[dim]
    moved = [s for i, s in enumerate(shape) if i != dim]
    rows = math.prod(moved)
    slots = torch.arange(k)
    if identity:
        table = slots.expand(rows, k)
    else:
        table = (torch.arange(rows)[:, None] * k + slots[None, :]) % max(n, 1)
    return table.reshape(*moved, k).movedim(-1, dim).contiguous()
