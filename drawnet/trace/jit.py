"""Record the model through ``torch.jit.trace`` and read the op graph from the trace.

The graph follows the eager recorder's conventions (``drawnet.trace.eager``) exactly:
``input.<name>``/``output.<name>`` nodes, one ``function`` node per ``aten::`` node
with ``op = stats.canonical_op(kind)``, ids ``<call id>:<op>[#k]``, ``scope`` the module
calls from the outermost in, one :class:`~drawnet.ir.Call` per module call, and an
``identity`` op for a leaf (or op-less) call whose output it did not make. Parameters,
constants, list/tuple packing and shape arithmetic (``aten::size``,
``prim::NumToTensor``, ``aten::Int``, maths on those) are followed but never become
nodes; edges follow tensors through list construction and unpacking.

How module calls are recovered (measured on torch 2.15, resnet18/vgg11/mobilenet_v2/
alexnet at 1×3×64×64 and a toy model calling ``relu(relu(x))``, an ``nn.Identity`` and a
``Linear`` twice, each checked against the call list forward hooks record):

(a) Scope names in ``traced.inlined_graph``: torch 2.15 still writes them
    (``__module.layer1/__module.layer1.0/__module.layer1.0.relu``), but a name says
    which *module* an op ran in, not which *call*. Starting a new call whenever a scope
    is re-entered gets all four torchvision models right (75/31/212/23 calls, because
    other ops always sit between two calls of one module, as in BasicBlock's two
    ``relu`` calls), but merges back-to-back calls (``relu(relu(x))``: 2 of 5 calls) and
    cannot see calls without ops (``nn.Identity``).
(b) Forward hooks plus order: hooks give the exact call list, but no public API says how
    far the trace graph had grown when a hook ran (the tracing state is private), so
    placing ops by order falls back to (a)'s scope matching, with the same failures.
(c) What we use: ``traced.graph`` is not inlined. Every module call is a
    ``prim::CallMethod`` node (a module called twice gets ``forward`` and ``forward1``),
    and each method has its own graph, so walking the methods recursively gives every
    call, with its ops, in start order. This matched the hook call list exactly on all
    five models (the toy's 5 calls included), and the graphs equal the eager recorder's
    node for node and edge for edge on the four torchvision models.
    Forward hooks still run during the trace, but only to record each call's input and
    output shapes (as the eager recorder does) and which tensors a call handed back
    unchanged: the trace drops those from the method's inputs and outputs (an
    ``nn.Identity`` becomes a method with no inputs returning ``None``), so the tensor
    an identity op passes on is found by tensor identity through the hooks, else as the
    latest tensor of the same shape in the calling graph.

Cost (2 CPU threads): resnet18 at 1×3×224×224 takes ~0.7-1.1 s here against ~40-60 ms
for ``tracer='meta'``; nearly all of it is the real forward pass and torch's trace
bookkeeping, ~90 ms the graph walk, and the hooks are cheap once shapes are cached
(reading ``tensor.shape`` while tracing costs ~0.35 ms).

Model state: the trace runs the stand-in copy it is given (:mod:`drawnet.trace.guard`:
cloned weights and buffers), under ``torch.no_grad()`` and a forked RNG; buffers are
also cloned before and copied back in ``finally`` when the run changed them (batch-norm
statistics in train mode), and the hooks are removed in ``finally``. The model is
traced as the ``model`` child of a small wrapper whose ``forward`` takes tensors only,
so keyword tensors, nested arguments and non-tensor keyword arguments (``inputs.extra``)
reach it as in eager mode. ``torch.jit.trace``'s deprecation
``FutureWarning`` and ``TracerWarning`` are silenced for the call only.

Known differences from the eager recorders: the trace drops dead code (ops whose result
is never used); ops are ``aten::`` ops, so every conv is ``convolution`` (from
``aten::_convolution``, which ``stats`` costs from the weight) where eager says
``conv2d``, ``x[:, :6]`` is ``slice`` ops rather than one ``getitem``, and ``attrs`` hold
the aten schema's positional arguments (``arg5`` of ``batch_norm`` is ``training`` in
both); outputs must be tensors, tuples, lists or dicts of one value type (transformers'
caches are not: pass ``use_cache=False`` or use ``tracer='meta'``).
"""

from __future__ import annotations

import contextlib
import operator
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drawnet import ir, stats
from drawnet.errors import TraceError
from drawnet.trace.common import (
    all_module_paths,
    flatten_tensors,
    input_node,
    module_index,
    module_table,
    pick_path,
    simple_value,
    tensor_meta,
)
from drawnet.trace.common import (
    call_id as make_call_id,
)
from drawnet.trace.eager import _model_device, finish_graph
from drawnet.trace.inputs import ModelInputs, make_leaves

__all__ = ["record_jit"]

_ROOT = "model"  # the attribute under which the trace wrapper holds the user's model


# -- what a graph value stands for -----------------------------------------------------
@dataclass(eq=False)
class _Tensor:
    """A tensor value; ``src`` is the node that produced it (None for weights, constants).

    Entries are shared between a method's graph and its caller, so re-pointing ``src``
    (an identity op taking over a tensor) affects later uses only, as in eager mode.
    """

    src: str | None
    meta: ir.TensorMeta | None
    const: bool = False
    number: int | float | None = None  # the value of a 0-dim constant


@dataclass(frozen=True)
class _Const:
    value: Any


@dataclass(frozen=True)
class _Shape:
    """A number computed from tensor sizes (``x.size(0) * 2``); ``value`` None if unknown."""

    value: int | float | None


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Entry, ...]


@dataclass(frozen=True)
class _Dict:
    items: tuple[tuple[Any, _Entry], ...]


@dataclass(frozen=True)
class _Module:
    path: str  # attribute path in the trace wrapper


@dataclass(frozen=True)
class _Opaque:
    pass


_Entry = _Tensor | _Const | _Shape | _Seq | _Dict | _Module | _Opaque
_OPAQUE = _Opaque()

# Nodes that only move values around; their outputs are computed, never drawn.
_PLUMBING = frozenset({
    "prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::TupleConstruct",
    "prim::DictConstruct", "prim::ListUnpack", "prim::TupleUnpack", "prim::TupleIndex",
    "prim::ListIndex", "prim::NumToTensor", "prim::CallMethod", "prim::device", "prim::dtype",
    "prim::unchecked_cast", "prim::Uninitialized", "prim::RaiseException",
})
_NUMBER_CASTS = frozenset({"aten::Int", "aten::Float", "aten::ScalarImplicit", "prim::NumToTensor"})
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "aten::add": operator.add, "aten::sub": operator.sub, "aten::mul": operator.mul,
    "aten::div": operator.truediv, "aten::floordiv": operator.floordiv,
    "aten::floor_divide": operator.floordiv, "aten::remainder": operator.mod,
    "aten::__floordiv__": operator.floordiv,
}


# -- hooks: call shapes and tensor identities --------------------------------------------
@dataclass
class _HookCall:
    inputs: tuple[ir.TensorMeta, ...]
    in_tokens: tuple[int, ...]
    outputs: tuple[ir.TensorMeta, ...] = ()
    out_tokens: tuple[int, ...] = ()


@dataclass
class _Seen:
    ref: weakref.ref[Any]
    token: int
    version: int = -1
    meta: ir.TensorMeta | None = None


class _Hooks:
    """Forward hooks that note each call's tensors while ``torch.jit.trace`` runs."""

    def __init__(self, model: Any) -> None:
        self.paths = module_index(model)[0]
        self.call_paths: dict[str, str] = {}
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}
        self.calls: dict[str, _HookCall] = {}
        self._seen: dict[int, _Seen] = {}
        self._next = 0
        self.finished = False  # the model's forward returned

    def note(self, t: Any) -> tuple[int, ir.TensorMeta]:
        """A token naming one live tensor object, and its shape.

        Reading a shape while tracing costs ~0.35 ms (the tracer records ``aten::size``
        nodes it drops later), so shapes are cached per tensor until an in-place op
        bumps its version (``unsqueeze_`` can change the shape). Tokens are never reused.
        """
        seen = self._seen.get(id(t))
        if seen is None or seen.ref() is not t:
            self._next += 1
            seen = _Seen(weakref.ref(t), self._next)
            self._seen[id(t)] = seen
        version = t._version
        if seen.meta is None or seen.version != version:
            seen.meta, seen.version = tensor_meta(t), version
        return seen.token, seen.meta

    def token(self, t: Any) -> int:
        """The token of a tensor (see :meth:`note`)."""
        return self.note(t)[0]

    def pre(self, mod: Any, args: Any, kwargs: Any) -> None:
        paths = self.paths.get(id(mod))
        if not paths or not paths[0]:
            return
        path = pick_path(paths, self.call_paths[self.stack[-1]] if self.stack else "")
        k = self.counts.get(path, 0) + 1
        self.counts[path] = k
        call_id = make_call_id(path, k)
        self.call_paths[call_id] = path
        notes = [self.note(t) for _, t in flatten_tensors((args, kwargs))]
        self.calls[call_id] = _HookCall(
            inputs=tuple(m for _, m in notes), in_tokens=tuple(tok for tok, _ in notes)
        )
        self.stack.append(call_id)

    def post(self, mod: Any, args: Any, kwargs: Any, output: Any) -> None:
        paths = self.paths.get(id(mod))
        if paths and paths[0] == "":
            self.finished = True
        if not paths or not paths[0] or not self.stack:
            return
        call = self.calls[self.stack.pop()]
        notes = [self.note(t) for _, t in flatten_tensors(output)]
        call.outputs = tuple(m for _, m in notes)
        call.out_tokens = tuple(tok for tok, _ in notes)

    def where(self) -> str:
        """Where a failed trace stopped: the innermost call still running."""
        if self.finished:
            return "on the model's output"
        if not self.stack:
            return "in the model's own forward"
        call_id = self.stack[-1]
        call = self.calls.get(call_id)
        got = ", ".join("×".join(str(d) for d in m.shape) for m in (call.inputs if call else ()))
        return f"in {call_id} (input {got or 'no tensors'})"


# -- reading the traced graph -------------------------------------------------------------
def _type_meta(t: Any) -> ir.TensorMeta | None:
    if t.kind() != "TensorType":
        return None
    try:
        sizes = t.varyingSizes()
        dtype = t.dtype()
    except RuntimeError:
        return None
    if sizes is None or dtype is None or any(s is None for s in sizes):
        return None
    return ir.TensorMeta(tuple(int(s) for s in sizes), str(dtype).removeprefix("torch."))


def _is_scalar(t: Any) -> bool:
    """A non-tensor, or a 0-dim tensor (``prim::NumToTensor`` and maths on it)."""
    if t.kind() != "TensorType":
        return True
    meta = _type_meta(t)
    return meta is not None and meta.shape == ()


def _is_tensor_list(t: Any) -> bool:
    return bool(t.kind() == "ListType" and t.getElementType().kind() == "TensorType")


def _tensors(entry: _Entry) -> Iterator[tuple[str, _Tensor]]:
    """Tensors inside an entry with eager-style dotted names (index / key)."""
    if isinstance(entry, _Tensor) and not entry.const:
        yield "", entry
    elif isinstance(entry, _Seq | _Dict):
        pairs = enumerate(entry.items) if isinstance(entry, _Seq) else entry.items
        for key, item in pairs:
            for name, t in _tensors(item):
                yield (f"{key}.{name}" if name else str(key)), t


def _number(entry: _Entry) -> Any:
    if isinstance(entry, _Shape):
        return entry.value
    if isinstance(entry, _Const) and isinstance(entry.value, int | float):
        return entry.value
    if isinstance(entry, _Tensor) and entry.const:
        return entry.number
    return None


def _attr_value(entry: _Entry) -> tuple[bool, ir.AttrValue]:
    """``(True, value)`` for an argument worth keeping as an attribute, else ``(False, None)``."""
    if isinstance(entry, _Const):
        return simple_value(entry.value)
    if isinstance(entry, _Shape):
        return (True, entry.value) if entry.value is not None else (False, None)
    if isinstance(entry, _Seq):
        values = [_number(e) for e in entry.items]
        if any(v is None for v in values):
            return False, None
        return simple_value(values)
    return False, None


class _Walker:
    """Walks the traced methods from the wrapper down and builds nodes, edges and calls."""

    def __init__(self, model: Any, traced: Any, hooks: _Hooks) -> None:
        self.traced = traced
        self.hooks = hooks
        self.classes: dict[str, str] = {}
        self.leaf: dict[str, bool] = {}
        self.call_paths: dict[str, str] = {}
        # every path of the module object at a path: a shared module's calls are filed
        # under the parent that made them (jit's graph names one path for all)
        self.aliases: dict[str, tuple[str, ...]] = {
            p: paths for paths in module_index(model)[0].values() for p in paths}
        for path, mod in all_module_paths(model):
            self.classes.setdefault(path, type(mod).__name__)
            self.leaf.setdefault(path, next(iter(mod.children()), None) is None)
        self.weights: dict[str, ir.TensorMeta] = {}
        for name, t in [*model.named_parameters(remove_duplicate=False),
                        *model.named_buffers(remove_duplicate=False)]:
            self.weights[name] = tensor_meta(t)
        self.nodes: list[ir.Node] = []
        self.edges: list[ir.Edge] = []
        self.calls: list[ir.Call | None] = []
        self.scopes: dict[str, tuple[str, ...]] = {}
        self.op_counts: dict[str, int] = {}
        self.call_counts: dict[str, int] = {}
        self.ops_in_call: dict[str, int] = {}
        self.by_token: dict[int, _Tensor] = {}

    # -- paths ----------------------------------------------------------------------
    @staticmethod
    def _model_path(raw: str) -> str | None:
        """Path inside the user's model of a wrapper attribute path (None: not in it)."""
        if raw == _ROOT:
            return ""
        if raw.startswith(_ROOT + "."):
            return raw[len(_ROOT) + 1:]
        return None

    def _method_graph(self, raw_path: str, name: str) -> Any:
        sub = self.traced.get_submodule(raw_path) if raw_path else self.traced
        return sub.graph if name == "forward" else getattr(sub, name).graph

    # -- nodes ----------------------------------------------------------------------
    def _add_node(
        self,
        raw: str,
        stack: tuple[str, ...],
        ins: list[_Tensor],
        outs: list[ir.TensorMeta | None],
        attr_map: dict[str, ir.AttrValue],
    ) -> str:
        op = stats.canonical_op(raw)
        call_id = stack[-1] if stack else ""
        path = self.call_paths.get(call_id, "")
        base = f"{call_id}:{op}"
        k = self.op_counts.get(base, 0) + 1
        self.op_counts[base] = k
        node_id = base if k == 1 else f"{base}#{k}"
        in_metas = [t.meta for t in ins]
        out_metas = tuple(m for m in outs if m is not None)
        cost = stats.op_cost(op, in_metas, out_metas, attr_map)
        self.nodes.append(ir.Node(
            id=node_id, kind="function", op=op, module_path=path,
            class_name=self.classes.get(path, ""),
            inputs=tuple(m for m in in_metas if m is not None), outputs=out_metas,
            macs=cost.macs, flops=cost.flops, attrs=ir.attrs(**attr_map), scope=stack,
        ))
        self.scopes[node_id] = stack
        for c in stack:
            self.ops_in_call[c] = self.ops_in_call.get(c, 0) + 1
        seen: set[str] = set()
        for t in ins:
            if t.src is not None and t.src not in seen:
                seen.add(t.src)
                self.edges.append(ir.Edge(t.src, node_id, t.meta))
        return node_id

    # -- graphs ---------------------------------------------------------------------
    def walk(self, graph: Any, inputs: list[_Entry], stack: tuple[str, ...]) -> list[_Entry]:
        """Walk one method graph with its inputs bound; return its outputs."""
        env: dict[int, _Entry] = {}
        order: list[_Tensor] = []  # tensors in the order they appear, for identity lookups
        for value, entry in zip(graph.inputs(), inputs, strict=False):
            env[value.unique()] = entry
            if isinstance(entry, _Tensor):
                order.append(entry)

        def get(value: Any) -> _Entry:
            return env.get(value.unique(), _OPAQUE)

        for node in graph.nodes():
            kind = node.kind()
            outs = list(node.outputs())
            if kind == "prim::CallMethod":
                results = self._call(node, [get(v) for v in node.inputs()], stack, order)
                for value, entry in zip(outs, results, strict=False):
                    env[value.unique()] = entry
            else:
                for value, entry in zip(outs, self._node(node, kind, get, stack), strict=False):
                    env[value.unique()] = entry
            order.extend(
                e for v in outs for e in [env.get(v.unique())] if isinstance(e, _Tensor)
            )
        return [get(v) for v in graph.return_node().inputs()]

    def _node(
        self, node: Any, kind: str, get: Callable[[Any], _Entry], stack: tuple[str, ...]
    ) -> list[_Entry]:
        outs = list(node.outputs())
        args = [get(v) for v in node.inputs()]
        if kind == "prim::Constant":
            return [self._constant(node)]
        if kind == "prim::GetAttr":
            return [self._getattr(node, args[0])]
        if kind in ("prim::ListConstruct", "prim::TupleConstruct"):
            return [_Seq(tuple(args))]
        if kind == "prim::DictConstruct":
            keys = [a.value if isinstance(a, _Const) else i for i, a in enumerate(args[0::2])]
            return [_Dict(tuple(zip(keys, args[1::2], strict=False)))]
        if kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            return self._unpack(args[0], outs)
        if kind in ("prim::TupleIndex", "prim::ListIndex", "aten::__getitem__") and isinstance(
            args[0], _Seq
        ):
            i = _number(args[1]) if len(args) > 1 else None
            if isinstance(i, int) and -len(args[0].items) <= i < len(args[0].items):
                return [args[0].items[i]]
            return self._unpack(args[0], outs)
        tensor_out = any(
            v.type().kind() == "TensorType" or _is_tensor_list(v.type()) for v in outs
        )
        real_in = any(
            (isinstance(a, _Tensor) and not a.const)
            or (isinstance(a, _Seq) and any(isinstance(x, _Tensor) for x in a.items))
            for a in args
        )
        scalar_out = all(_is_scalar(v.type()) for v in outs)
        shape_in = any(isinstance(a, _Shape) for a in args)
        if kind in _PLUMBING or not tensor_out or (shape_in and not real_in and scalar_out):
            return self._scalar(node, kind, args, outs)
        return self._op(node, kind, args, outs, stack)

    def _constant(self, node: Any) -> _Entry:
        value = node.output()
        try:
            ivalue = value.toIValue()
        except RuntimeError:
            return _OPAQUE
        if value.type().kind() != "TensorType":
            return _Const(ivalue)
        if isinstance(ivalue, bool | int | float):  # a 0-dim constant comes back as a number
            return _Tensor(None, _type_meta(value.type()), const=True, number=ivalue)
        meta = tensor_meta(ivalue) if hasattr(ivalue, "shape") else _type_meta(value.type())
        number = ivalue.item() if meta is not None and meta.shape == () else None
        return _Tensor(None, meta, const=True, number=number)

    def _getattr(self, node: Any, owner: _Entry) -> _Entry:
        if not isinstance(owner, _Module):
            return _OPAQUE
        name = node.s("name")
        raw = f"{owner.path}.{name}" if owner.path else name
        kind = node.output().type().kind()
        if kind == "ClassType":
            return _Module(raw)
        if kind == "TensorType":
            path = self._model_path(raw)
            meta = self.weights.get(path) if path is not None else None
            return _Tensor(None, meta or _type_meta(node.output().type()))
        return _OPAQUE

    @staticmethod
    def _unpack(seq: _Entry, outs: list[Any]) -> list[_Entry]:
        if isinstance(seq, _Seq) and len(seq.items) == len(outs):
            return list(seq.items)
        src = seq.items[0].src if isinstance(seq, _Seq) and seq.items and isinstance(
            seq.items[0], _Tensor) else None
        return [
            _Tensor(src, _type_meta(v.type())) if v.type().kind() == "TensorType" else _OPAQUE
            for v in outs
        ]

    @staticmethod
    def _scalar(node: Any, kind: str, args: list[_Entry], outs: list[Any]) -> list[_Entry]:
        """Outputs of a node that is not drawn: sizes and the arithmetic on them."""
        value: Any = None
        if kind == "aten::size" and args and isinstance(args[0], _Tensor):
            meta = args[0].meta
            if len(args) == 1:
                dims = meta.shape if meta is not None else ()
                return [_Seq(tuple(_Shape(d) for d in dims))]
            dim = _number(args[1])
            if meta is not None and isinstance(dim, int) and -len(meta.shape) <= dim < len(
                meta.shape
            ):
                value = meta.shape[dim]
        elif kind in ("aten::dim", "aten::numel") and args and isinstance(args[0], _Tensor):
            meta = args[0].meta
            if meta is not None:
                value = len(meta.shape) if kind == "aten::dim" else meta.numel
        elif kind in _NUMBER_CASTS and args:
            value = _number(args[0])
        elif kind in _ARITH and len(args) >= 2:
            a, b = _number(args[0]), _number(args[1])
            if a is not None and b is not None:
                with contextlib.suppress(ArithmeticError):
                    value = _ARITH[kind](a, b)
        elif kind == "aten::neg" and args:
            a = _number(args[0])
            value = -a if a is not None else None
        else:
            return [_Shape(None) if any(isinstance(a, _Shape) for a in args) else _OPAQUE
                    for _ in outs]
        if isinstance(value, float) and value.is_integer() and kind in (
            "aten::floordiv", "aten::floor_divide", "aten::Int"
        ):
            value = int(value)
        return [_Shape(value) for _ in outs]

    def _op(
        self, node: Any, kind: str, args: list[_Entry], outs: list[Any], stack: tuple[str, ...]
    ) -> list[_Entry]:
        ins: list[_Tensor] = []
        attr_map: dict[str, ir.AttrValue] = {}
        for i, a in enumerate(args):
            if isinstance(a, _Tensor):
                ins.append(a)
            elif isinstance(a, _Seq) and any(isinstance(x, _Tensor) for x in a.items):
                # tensor lists (cat, stack) and optional-tensor lists (index: [None, idx])
                ins.extend(x for x in a.items if isinstance(x, _Tensor))
            else:
                keep, value = _attr_value(a)
                if keep:
                    attr_map[f"arg{i}"] = value
        out_metas: list[list[ir.TensorMeta | None]] = []
        for v in outs:
            if v.type().kind() == "TensorType":
                out_metas.append([_type_meta(v.type())])
            elif _is_tensor_list(v.type()):
                out_metas.append(self._list_metas(v))
            else:
                out_metas.append([])
        raw = node.pyname() if kind == "prim::PythonOp" else kind
        node_id = self._add_node(raw, stack, ins, [m for ms in out_metas for m in ms], attr_map)
        results: list[_Entry] = []
        for v, metas in zip(outs, out_metas, strict=False):
            if v.type().kind() == "TensorType":
                results.append(_Tensor(node_id, metas[0]))
            elif _is_tensor_list(v.type()):
                results.append(_Seq(tuple(_Tensor(node_id, m) for m in metas)))
            else:
                results.append(_OPAQUE)
        return results

    @staticmethod
    def _list_metas(value: Any) -> list[ir.TensorMeta | None]:
        """Shapes of a tensor list (``chunk``, ``split``) from the node that unpacks it."""
        for use in value.uses():
            if use.user.kind() == "prim::ListUnpack":
                return [_type_meta(o.type()) for o in use.user.outputs()]
        return [None]

    # -- module calls ---------------------------------------------------------------
    def _call(
        self, node: Any, args: list[_Entry], stack: tuple[str, ...], order: list[_Tensor]
    ) -> list[_Entry]:
        owner = args[0]
        if not isinstance(owner, _Module):
            raise TraceError(f"cannot tell which module {node.kind()} calls")
        graph = self._method_graph(owner.path, node.s("name"))
        rel = self._model_path(owner.path)
        if rel is None or rel == "":  # the wrapper's call of the model: the root
            return self.walk(graph, args, stack)
        parent = self.call_paths.get(stack[-1], "") if stack else ""
        path = pick_path(self.aliases.get(rel, (rel,)), parent)
        k = self.call_counts.get(path, 0) + 1
        self.call_counts[path] = k
        call_id = make_call_id(path, k)
        self.call_paths[call_id] = path
        slot = len(self.calls)
        self.calls.append(None)
        inner = (*stack, call_id)
        results = self.walk(graph, args, inner)
        outputs = [t for r in results for _, t in _tensors(r)]
        hook = self.hooks.calls.get(call_id)
        pairs = self._outputs(hook, outputs, order)
        if self.leaf.get(path, False) or self.ops_in_call.get(call_id, 0) == 0:
            for meta, entry in pairs:
                if entry is not None and entry.src is not None and call_id in self.scopes.get(
                    entry.src, ()
                ):
                    continue
                node_id = self._add_node(
                    "identity", inner, [entry or _Tensor(None, meta)], [meta], {}
                )
                if entry is not None:
                    entry.src = node_id
        if hook is not None:
            for tok, (_meta, entry) in zip(hook.out_tokens, pairs, strict=False):
                if entry is not None:
                    self.by_token[tok] = entry
        self.calls[slot] = ir.Call(
            id=call_id, path=path, class_name=self.classes.get(path, ""),
            parent=stack[-1] if stack else "",
            inputs=hook.inputs if hook is not None else tuple(
                t.meta for a in args[1:] for _, t in _tensors(a) if t.meta is not None
            ),
            outputs=hook.outputs if hook is not None else tuple(
                t.meta for t in outputs if t.meta is not None
            ),
        )
        return results

    def _outputs(
        self, hook: _HookCall | None, outputs: list[_Tensor], order: list[_Tensor]
    ) -> list[tuple[ir.TensorMeta | None, _Tensor | None]]:
        """Pair each tensor the call returned (per the hooks) with its graph value.

        The trace leaves tensors a call passes through out of the method's outputs; those
        are found by tensor identity (tokens) or, failing that, as the latest tensor of the
        same shape in the calling graph.
        """
        if hook is None:
            return [(t.meta, t) for t in outputs]
        # A tensor changed in place (ReLU(inplace=True)) is the call's input object and
        # yet a new graph value, so only look for pass-throughs when values are missing.
        complete = len(outputs) == len(hook.outputs)
        made = [tok for tok in hook.out_tokens if complete or tok not in hook.in_tokens]
        pairs: list[tuple[ir.TensorMeta | None, _Tensor | None]] = []
        inner = iter(outputs if len(outputs) == len(made) else ())
        for tok, meta in zip(hook.out_tokens, hook.outputs, strict=False):
            entry: _Tensor | None
            if not complete and tok in hook.in_tokens:
                entry = self.by_token.get(tok) or next(
                    (t for t in reversed(order) if t.meta == meta), None
                )
            else:
                entry = next(inner, None)
                if entry is not None and entry.meta is not None and entry.meta != meta:
                    entry = None
            pairs.append((meta, entry))
        return pairs


# -- the tracer -------------------------------------------------------------------------
def _wrapper(model: Any, inputs: ModelInputs) -> Any:
    """A module holding ``model`` as ``model`` whose ``forward`` takes tensors only (one
    per input spec, put back in the arguments' structure)."""
    import torch

    class _Trace(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            setattr(self, _ROOT, model)

        def forward(self, *tensors: Any) -> Any:
            args, kwargs = inputs.assemble(tensors)
            return getattr(self, _ROOT)(*args, **kwargs)

    return _Trace()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch.jit.trace's own deprecation and tracer warnings, for this call only."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=torch.jit.TracerWarning  # type: ignore[attr-defined]
        )
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=category)
        yield


@contextlib.contextmanager
def _buffers_kept(model: Any) -> Iterator[None]:
    """Put every buffer back as it was (a real run updates batch-norm statistics)."""
    import torch

    saved = [(b, b.clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, copy in saved:
                if b.shape != copy.shape or not torch.equal(b, copy):
                    b.copy_(copy)


def record_jit(model: Any, inputs: ModelInputs) -> ir.Graph:
    """Trace ``model`` with ``torch.jit.trace`` and return the op-level graph.

    The model runs for real once (inputs made with :func:`make_leaves` on the model's
    device, filled with seeded values), under ``torch.no_grad()``. Its weights, buffers,
    hooks and the global RNG are as before afterwards; the caller passes a stand-in copy
    in the wanted train/eval mode. Raises :class:`~drawnet.errors.TraceError` when
    torch cannot trace the model, with the module that was running and the cause chained.
    """
    import torch

    device = _model_device(model)
    if str(device) == "meta":
        raise TraceError(
            "jit trace needs real weights but the model is on the meta device; "
            "use tracer='meta'"
        )
    modules = module_table(model)
    tensors = tuple(make_leaves(inputs, device, fill=True))
    hooks = _Hooks(model)
    handles = []
    rng_devices = [device] if device.type == "cuda" else []
    try:
        with _buffers_kept(model), torch.random.fork_rng(devices=rng_devices):
            for mod in model.modules():
                handles.append(mod.register_forward_pre_hook(hooks.pre, with_kwargs=True))
                handles.append(mod.register_forward_hook(hooks.post, with_kwargs=True))
            try:
                with _quiet(), torch.no_grad():
                    traced = torch.jit.trace(  # type: ignore[no-untyped-call]
                        _wrapper(model, inputs), tensors,
                        strict=False, check_trace=False,
                    )
            except Exception as e:
                raise _trace_error(e, hooks, model) from e
    finally:
        for h in handles:
            h.remove()

    walker = _Walker(model, traced, hooks)
    nodes: list[ir.Node] = []
    entries: list[_Entry] = []
    for spec, t in zip(inputs.specs, tensors, strict=False):
        nodes.append(input_node(spec.name, tensor_meta(t)))
        entry = _Tensor(nodes[-1].id, nodes[-1].outputs[0])
        walker.by_token[hooks.token(t)] = entry
        entries.append(entry)
    try:
        with _quiet():
            result = walker.walk(traced.graph, [_Module(""), *entries], ())
    except Exception as e:
        raise TraceError(
            f"jit trace failed while reading the traced graph: {_cause(e)}; "
            "try tracer='meta' or tracer='eager'"
        ) from e
    finally:
        del traced
    nodes.extend(walker.nodes)
    edges = list(walker.edges)
    out_nodes: list[ir.Node] = []
    for name, t in _tensors(result[0]) if result else ():
        node_id = f"output.{name}" if name else "output"
        if any(n.id == node_id for n in out_nodes):
            continue
        out_nodes.append(ir.Node(id=node_id, kind="output", op="output", label=name or "output",
                                 inputs=(t.meta,) if t.meta is not None else ()))
        if t.src is not None:
            edges.append(ir.Edge(t.src, node_id, t.meta))
    if not out_nodes:
        out_nodes.append(ir.Node(id="output", kind="output", op="output", label="output"))
    nodes.extend(out_nodes)

    calls = [c for c in walker.calls if c is not None]
    return finish_graph(model, modules, nodes, edges, calls, "jit")


def _cause(e: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message``, cut short (torch quotes whole tensors)."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else ""
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return f"{type(e).__name__}: {line}"


def _trace_error(e: BaseException, hooks: _Hooks, model: Any) -> TraceError:
    hint = "try tracer='meta' (no compute) or tracer='eager'"
    if type(model).__module__.startswith("transformers"):
        hint = (
            "transformers models often do not survive torch.jit.trace (kwargs="
            "{'use_cache': False} helps some); use tracer='meta'"
        )
    return TraceError(f"jit trace failed {hooks.where()}: {_cause(e)}; {hint}")
