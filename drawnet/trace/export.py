"""Record the model through ``torch.export.export`` and read the op graph from its nodes.

No compute and no allocation: ``torch.export`` (non-strict, torch's default) runs the
model's Python code on fake tensors made from the real weights' metadata (meta weights
work too), and hands back an ``ExportedProgram`` whose ``call_function`` nodes carry
``meta['nn_module_stack']`` (the module calls an op ran in) and ``meta['val']`` (a fake
tensor with its shape and dtype). The user's model is neither moved nor copied.

The graph follows the eager recorder's conventions (``drawnet.trace.eager``):
``input.<name>``/``output.<name>`` nodes, one ``function`` node per aten op with
``op = stats.canonical_op(name)`` (``aten::conv2d`` -> ``conv2d``), ids
``<call id>:<op>[#k]``, ``scope`` the module calls from the outermost in, one
:class:`~drawnet.ir.Call` per module call, and an ``identity`` op for a leaf (or op-less)
call whose output it did not make.

How ops are given to module *calls* (measured on torch 2.15): every entry of
``nn_module_stack`` is ``key -> (path, class)``, and the key of the k-th call (k >= 2)
of a module ends in ``@{k-1}``: ``L__self__relu``, ``L__self__relu@1``. The count
includes calls that ran no op (``maybe(x)``, ``maybe(x, skip=True)``, ``maybe(x)`` gives
``maybe`` and ``maybe@2``), so ``path@{k-1}`` is drawnet's call id ``path@k``. Calls
without ops (``nn.Identity``, ``StochasticDepth`` in eval mode) have no node to carry
them, so forward hooks (which run in non-strict export, on fake tensors) record every call
with its input and output shapes, as the eager recorder does. For an op-less call, the
hooks also note where the traced graph had got to (the last node of the tracer's graph,
``torch.fx.experimental.proxy_tensor.get_proxy_mode``) and which node made the tensor it
handed back (``get_proxy_slot``); node names survive into the exported graph, so the
``identity`` op is put in the same place, and later users of the tensor read it from
there, as in eager mode. Those two lookups are torch internals; if they fail, op-less
calls are still listed, just not drawn.

The model is exported as the ``model`` child of a small wrapper whose ``forward`` takes
tensors only (put back in the arguments' structure, with ``inputs.extra``, as in eager mode) and
returns the output's tensors as a flat tuple, named by
:func:`~drawnet.trace.common.output_groups`; so outputs ``torch.export`` cannot handle
itself (transformers' ``DynamicCache``, dataclasses) are no obstacle.
``torch.no_grad()`` or ``torch.enable_grad()`` inside ``forward`` become
``wrap_with_set_grad_enabled`` nodes holding a sub-graph; their ops are read in line.

Cost (2 CPU threads shared with other work, best of 3): resnet18 at 1×3×224×224 0.44 s
(0.85 s the first time in a process), vit_b_16 1.1 s, BERT-base at 1×128 1.2 s, about
what ``torch.export`` alone takes (0.5, 1.2, 1.0 s); ``tracer='meta'`` takes 0.04, 0.17
and 0.23 s, a real run (``eager``) 0.24, 0.81 and 0.72 s, ``jit`` 0.9, 1.5 and 2.2 s.
A 70 B-parameter Llama on the meta device: 17-23 s (``meta``: 2-3 s).

Known differences from the eager recorders: ops are aten ops, so ``x[:, 0]`` is
``select``/``slice`` ops rather than one ``getitem``, ``F.interpolate`` is
``upsample_bilinear2d``, Python-level composites that the eager recorders see as one
call (``F.multi_head_attention_forward``, ``F.normalize``) are their aten ops, and
attributes are the aten schema's positional arguments (``arg5`` of ``batch_norm`` is
``training`` in both); ops torch.export drops as dead code are not drawn; writes into
slices (``x[:, :k] = y``, which the eager recorders do not see either) are left out;
data-dependent control flow (``if x.sum() > 0``) fails, as in the meta tracer. A module
object registered under two names and called through both counts its calls per name in
``nn_module_stack`` (the hooks count them per module, as eager does). Some libraries
behave differently when they see a tracer: transformers builds an explicit attention
mask under export (``None`` in eager mode), so layer calls have one more input and the
mask's few ops add FLOPs (not MACs).
"""

from __future__ import annotations

import contextlib
import io
import logging
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from drawnet import ir, stats
from drawnet.errors import TraceError
from drawnet.trace.common import (
    TracerFailure,
    flatten_tensors,
    input_node,
    module_index,
    module_table,
    output_groups,
    output_node,
    pick_path,
    simple_value,
    tensor_meta,
)
from drawnet.trace.common import (
    call_id as make_call_id,
)
from drawnet.trace.eager import failure, finish_graph
from drawnet.trace.inputs import ModelInputs, make_leaves

__all__ = ["record_export"]

_ROOT = "model"  # the attribute under which the export wrapper holds the user's model
_CALL_SUFFIX = re.compile(r"@(\d+)$")
_QUIET_LOGGERS = (
    "torch.export", "torch._export", "torch.fx.experimental.symbolic_shapes",
    "torch.fx.experimental.proxy_tensor", "torch._subclasses.fake_tensor",
    "torch._functorch", "torch._dynamo", "torch.fx.experimental.recording",
)


# -- what a graph value stands for -------------------------------------------------------
@dataclass(eq=False)
class _Tensor:
    """A tensor value; ``src`` is the node that made it (None for weights, constants).

    Entries are shared by every use of one fx value, so re-pointing ``src`` (an identity
    op taking the tensor over) affects later uses only, as in eager mode.
    """

    src: str | None
    meta: ir.TensorMeta | None


@dataclass(frozen=True)
class _Seq:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class _Const:
    value: Any


# -- hooks: the call list ----------------------------------------------------------------
@dataclass
class _HookCall:
    id: str
    path: str
    class_name: str
    parent: str
    stack: tuple[str, ...]
    inputs: tuple[ir.TensorMeta, ...]
    outputs: tuple[ir.TensorMeta, ...] = ()
    start: str | None = None  # the traced graph's last node when the call started
    end: str | None = None  # ... and when it returned (only for possible identity ops)
    sources: list[tuple[str, int] | None] = field(default_factory=list)


class _Hooks:
    """Forward hooks that list every module call while ``torch.export`` runs the model."""

    def __init__(self, model: Any) -> None:
        self.paths, self.classes, self.leaf = module_index(model)
        self.root_call = type(model).__name__ if self.leaf.get("", False) else ""
        self.stack: list[_HookCall] = []
        self.counts: dict[str, int] = {}
        self.ended: list[_HookCall] = []
        self.finished = False
        self.traced = True  # the proxy lookups work (torch internals)
        self._placeholders: dict[str, int] | None = None

    # -- torch internals, guarded --------------------------------------------------------
    def _tracer(self) -> Any:
        if not self.traced:
            return None
        try:
            from torch.fx.experimental.proxy_tensor import get_proxy_mode

            mode = get_proxy_mode()
            return None if mode is None else mode.tracer
        except Exception:
            self.traced = False
            return None

    def _last_node(self) -> str | None:
        tracer = self._tracer()
        if tracer is None:
            return None
        try:
            if self._placeholders is None:
                self._placeholders = {
                    n.name: i for i, n in enumerate(
                        n for n in tracer.graph.nodes if n.op == "placeholder")
                }
            return str(next(reversed(tracer.graph.nodes)).name)
        except Exception:
            self.traced = False
            return None

    def _source(self, t: Any) -> tuple[str, int] | None:
        """The traced node that made ``t``: ``(name, -1)``, or ``(name, i)`` for the i-th
        placeholder (an input or a weight); None when unknown."""
        tracer = self._tracer()
        if tracer is None:
            return None
        try:
            from torch.fx.experimental.proxy_tensor import get_proxy_slot

            slot = get_proxy_slot(t, tracer, None)
            if slot is None:
                return None
            node = slot.proxy.node
            if node.op == "placeholder":
                index = (self._placeholders or {}).get(node.name)
                return None if index is None else (str(node.name), index)
            return (str(node.name), -1)
        except Exception:
            self.traced = False
            return None

    # -- hooks ---------------------------------------------------------------------------
    def pre(self, mod: Any, args: Any, kwargs: Any) -> None:
        paths = self.paths.get(id(_unproxied(mod)))
        if paths is None or (paths[0] == "" and not self.root_call):
            return
        parent = self.stack[-1] if self.stack else None
        path = pick_path(paths, parent.path if parent else "")
        k = self.counts.get(path, 0) + 1
        self.counts[path] = k
        call_id = make_call_id(path or self.root_call, k)
        call = _HookCall(
            id=call_id, path=path, class_name=type(mod).__name__,
            parent=parent.id if parent else "",
            stack=(*(parent.stack if parent else ()), call_id),
            inputs=tuple(tensor_meta(t) for _, t in flatten_tensors((args, kwargs))),
        )
        call.start = self._last_node()
        self.stack.append(call)

    def post(self, mod: Any, args: Any, kwargs: Any, output: Any) -> None:
        paths = self.paths.get(id(_unproxied(mod)))
        if paths is not None and paths[0] == "":
            self.finished = True
        if paths is None or (paths[0] == "" and not self.root_call) or not self.stack:
            return
        call = self.stack.pop()
        path = call.path
        tensors = [t for _, t in flatten_tensors(output)]
        call.outputs = tuple(tensor_meta(t) for t in tensors)
        end = self._last_node()
        if self.leaf.get(path, False) or end == call.start:
            # only a leaf, or a call that ran no op, can need an identity op
            call.end = end
            call.sources = [self._source(t) for t in tensors]
        self.ended.append(call)

    def placeholder_names(self) -> set[str]:
        """Names of the traced graph's placeholders (seen by the hooks)."""
        return set(self._placeholders or ())

    def where(self) -> tuple[str, str, tuple[ir.TensorMeta, ...]] | None:
        """The innermost module call still running: (path, class, input shapes)."""
        if not self.stack:
            return None
        call = self.stack[-1]
        return call.path or call.id, call.class_name, call.inputs


def _call_number(key: str, raw: str) -> int:
    """Which call of the module at ``raw`` an ``nn_module_stack`` key names: the key is
    the module's path with ``@{k-1}`` after it for the k-th call (``L__self__model.blk``,
    ``L__self__model.blk@1``); read after the path, so a module named ``blk@2`` is not
    taken for a third call.

    Example:
        >>> _call_number("L__self__model.blk@1", "model.blk"), _call_number(
        ...     "L__self__model.blk@2", "model.blk@2")
        (2, 1)
    """
    at = key.rfind(raw)
    if at >= 0:
        rest = key[at + len(raw):]
        return int(rest[1:]) + 1 if rest[:1] == "@" and rest[1:].isdigit() else 1
    m = _CALL_SUFFIX.search(key)
    return int(m.group(1)) + 1 if m else 1


def _unproxied(mod: Any) -> Any:
    """The module behind torch.export's attribute proxy (``_ModuleStackTracer`` wraps the
    modules it hands to ``forward`` in proxies that share their ``__dict__``, hooks
    included); the module itself otherwise."""
    get_base = getattr(type(mod), "get_base", None)
    if get_base is None:
        return mod
    try:
        return get_base(mod)
    except Exception:
        return mod


# -- reading the exported graph -----------------------------------------------------------
def _op_name(target: Any) -> str:
    name = getattr(target, "name", None)
    if callable(name):
        try:
            return stats.canonical_op(str(name()))
        except Exception:
            pass
    return stats.canonical_op(str(getattr(target, "__name__", None) or target))


def _val_metas(val: Any) -> list[ir.TensorMeta | None]:
    """Metas of the tensors in a node's ``meta['val']`` (a tensor, or a tuple/list of them)."""
    import torch

    if isinstance(val, torch.Tensor):
        return [tensor_meta(val)]
    if isinstance(val, tuple | list):
        return [tensor_meta(v) if isinstance(v, torch.Tensor) else None for v in val]
    return []


def _has_tensor(val: Any) -> bool:
    import torch

    if isinstance(val, torch.Tensor):
        return True
    return isinstance(val, tuple | list) and any(isinstance(v, torch.Tensor) for v in val)


_NO_OP_CASTS = frozenset({"to", "to_copy", "type_as", "contiguous", "alias"})


class _Builder:
    """Walks the exported graph (and the sub-graphs of grad-mode wrappers) in order."""

    def __init__(self, model: Any, hooks: _Hooks) -> None:
        self.hooks = hooks
        self.call_paths: dict[str, str] = {c.id: c.path for c in hooks.ended}
        self.nodes: list[ir.Node] = []
        self.edges: list[ir.Edge] = []
        self.op_counts: dict[str, int] = {}
        self.ops_in_call: dict[str, int] = {}
        self.scopes: dict[str, tuple[str, ...]] = {}
        self.by_name: dict[str, _Tensor] = {}
        self.placeholders: list[Any] = []
        # identity ops of calls, placed after the traced node that ended them
        self.after: dict[str, list[_HookCall]] = {}

    # -- scopes ----------------------------------------------------------------------
    def scope(self, node: Any) -> tuple[str, ...]:
        stack = node.meta.get("nn_module_stack") or {}
        out: list[str] = []
        for key, value in stack.items():
            try:
                raw = str(value[0])
            except (TypeError, IndexError):
                continue
            if raw == _ROOT:
                if self.hooks.root_call:
                    out.append(self.hooks.root_call)
                continue
            if not raw.startswith(_ROOT + "."):
                continue
            path = raw[len(_ROOT) + 1:]
            k = _call_number(str(key), raw)
            cid = make_call_id(path, k)
            self.call_paths.setdefault(cid, path)
            out.append(cid)
        if self.hooks.root_call and (not out or out[0] != self.hooks.root_call):
            out.insert(0, self.hooks.root_call)
        return tuple(out)

    # -- nodes -----------------------------------------------------------------------
    def add_node(self, op: str, scope: tuple[str, ...], ins: list[_Tensor],
                 outs: list[ir.TensorMeta], attr_map: dict[str, ir.AttrValue]) -> str:
        call_id = scope[-1] if scope else ""
        path = "" if call_id == self.hooks.root_call else self.call_paths.get(call_id, "")
        base = f"{call_id}:{op}"
        k = self.op_counts.get(base, 0) + 1
        self.op_counts[base] = k
        node_id = base if k == 1 else f"{base}#{k}"
        in_metas = tuple(t.meta for t in ins if t.meta is not None)
        cost = stats.op_cost(op, in_metas, tuple(outs), attr_map)
        self.nodes.append(ir.Node(
            id=node_id, kind="function", op=op, module_path=path,
            class_name=self.hooks.classes.get(path, ""), inputs=in_metas,
            outputs=tuple(outs), macs=cost.macs, flops=cost.flops,
            attrs=ir.attrs(**attr_map), scope=scope,
        ))
        self.scopes[node_id] = scope
        for c in scope:
            self.ops_in_call[c] = self.ops_in_call.get(c, 0) + 1
        seen: set[str] = set()
        for t in ins:
            if t.src is not None and t.src not in seen:
                seen.add(t.src)
                self.edges.append(ir.Edge(t.src, node_id, t.meta))
        return node_id

    def walk(self, graph: Any, owner: Any, env: dict[Any, Any]) -> Any:
        """Walk one graph with its placeholders bound in ``env``; return its output value."""
        for node in graph.nodes:
            if node.op == "placeholder":
                continue
            if node.op == "get_attr":
                env[node] = self._get_attr(owner, node)
            elif node.op == "call_function":
                env[node] = value = self._call(node, owner, env)
                if isinstance(value, _Tensor):
                    self.by_name[node.name] = value
                for call in self.after.pop(node.name, ()):
                    self._identity(call)
            elif node.op == "output":
                return self._value(node.args[0], env)
            else:  # call_module / call_method do not occur in exported programs
                env[node] = _Const(None)
        return None

    def _get_attr(self, owner: Any, node: Any) -> Any:
        import torch

        try:
            value = operator.attrgetter(str(node.target))(owner)
        except AttributeError:
            return _Const(None)
        if isinstance(value, torch.Tensor):
            return _Tensor(None, tensor_meta(value))
        return _Const(value)

    def _value(self, arg: Any, env: dict[Any, Any]) -> Any:
        import torch

        if isinstance(arg, torch.fx.Node):
            return env.get(arg, _Const(None))
        if isinstance(arg, tuple | list):
            return _Seq(tuple(self._value(a, env) for a in arg))
        return _Const(arg)

    def _call(self, node: Any, owner: Any, env: dict[Any, Any]) -> Any:
        import torch

        target = node.target
        if target is operator.getitem:
            seq = self._value(node.args[0], env)
            index = node.args[1]
            if isinstance(seq, _Seq) and isinstance(index, int) and -len(
                seq.items) <= index < len(seq.items):
                return seq.items[index]
            return _Tensor(None, None)
        sub = self._subgraph(node, owner)
        if sub is not None:
            module, operands = sub
            inner_env: dict[Any, Any] = {}
            placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
            for ph, operand in zip(placeholders, operands, strict=False):
                inner_env[ph] = self._value(operand, env)
            result = self.walk(module.graph, module, inner_env)
            return result if result is not None else _Const(None)
        val = node.meta.get("val")
        if not _has_tensor(val):
            return _Const(None)
        if _write_into_slice(node):
            return self._value(node.args[0], env)
        ins: list[_Tensor] = []
        attr_map: dict[str, ir.AttrValue] = {}

        def take(value: Any, name: str) -> None:
            if isinstance(value, _Tensor):
                ins.append(value)
            elif isinstance(value, _Seq) and any(isinstance(x, _Tensor) for x in value.items):
                ins.extend(x for x in value.items if isinstance(x, _Tensor))
            else:
                ok, simple = simple_value(_plain(value))
                if ok:
                    attr_map[name] = simple

        for i, a in enumerate(node.args):
            take(self._value(a, env), f"arg{i}")
        for k, a in node.kwargs.items():
            take(self._value(a, env), str(k))
        metas = _val_metas(val)
        if _op_name(target) in _NO_OP_CASTS and len(ins) == 1 and isinstance(
                val, torch.Tensor) and ins[0].meta == metas[0]:
            # x.to(x.dtype) hands x back: the tensor keeps its producer, as in eager mode
            # (a residual taken before a norm that casts its input is not the norm's)
            return ins[0]
        node_id = self.add_node(_op_name(target), self.scope(node), ins,
                                [m for m in metas if m is not None], attr_map)
        if isinstance(val, torch.Tensor):
            out: Any = _Tensor(node_id, metas[0])
        else:
            out = _Seq(tuple(_Tensor(node_id, m) if m is not None else _Const(None)
                             for m in metas))
        return out

    def _subgraph(self, node: Any, owner: Any) -> tuple[Any, list[Any]] | None:
        """``(module, operands)`` of a higher-order op that runs a sub-graph in line."""
        import torch

        if not isinstance(node.target, torch._ops.HigherOrderOperator):
            return None
        for i, a in enumerate(node.args):
            if isinstance(a, torch.fx.Node) and a.op == "get_attr":
                try:
                    module = operator.attrgetter(str(a.target))(owner)
                except AttributeError:
                    return None
                if isinstance(module, torch.fx.GraphModule):
                    return module, list(node.args[i + 1:])
        return None

    # -- identity ops for calls that made none of their outputs ------------------------
    def place(self, graph: Any, owner: Any) -> None:
        """Bucket the hooked calls by the traced node after which they returned."""
        known = set(_all_names(graph, owner))
        placeholders = self.hooks.placeholder_names()
        key = ""  # "": before the first op
        for call in self.hooks.ended:
            if call.end is not None:
                if call.end in placeholders:
                    key = ""
                elif call.end in known:
                    key = call.end
                # else: a node export renamed or folded away; keep the last place
            self.after.setdefault(key, []).append(call)

    def _identity(self, call: _HookCall) -> None:
        if not (self.hooks.leaf.get(call.path, False) or self.ops_in_call.get(call.id, 0) == 0):
            return
        for meta, source in zip(call.outputs, call.sources, strict=False):
            entry = self._entry(source)
            if entry is not None and entry.src is not None and call.id in self.scopes.get(
                entry.src, ()
            ):
                continue
            node_id = self.add_node("identity", call.stack, [entry or _Tensor(None, meta)],
                                    [meta], {})
            if entry is not None:
                entry.src = node_id

    def _entry(self, source: tuple[str, int] | None) -> _Tensor | None:
        if source is None:
            return None
        name, index = source
        if index >= 0:
            value = self.placeholders[index] if index < len(self.placeholders) else None
            return value if isinstance(value, _Tensor) else None
        return self.by_name.get(name)


_SLICING = frozenset({"slice", "select", "narrow", "diagonal", "as_strided"})


def _write_into_slice(node: Any) -> bool:
    """``x[idx] = v``: an unused in-place op on a slice (``slice`` -> ``fill_``/``copy_``).

    The eager recorders never see these (``__setitem__`` returns nothing), so they are
    left out here too, rather than drawn as ops whose result nobody reads.
    """
    import torch

    schema = getattr(node.target, "_schema", None)
    if node.users or schema is None or not schema.is_mutable or not node.args:
        return False
    first = node.args[0]
    return isinstance(first, torch.fx.Node) and first.op == "call_function" and _op_name(
        first.target) in _SLICING


def _plain(value: Any) -> Any:
    """A Python value for an attribute (``_Const`` unwrapped, sequences of them)."""
    if isinstance(value, _Const):
        return value.value
    if isinstance(value, _Seq):
        items = [_plain(v) for v in value.items]
        return items if all(isinstance(v, int) and not isinstance(v, bool) for v in items) \
            else None
    return None


# -- quiet ------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep torch.export's own chatter (warnings, a partial graph on stderr) out of sight.

    The cause of a failure is never hidden: it is chained to the :class:`TraceError`.
    """
    import warnings

    saved = []
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.CRITICAL + 1)
    children = [
        (lg, lg.level) for n, lg in list(logging.Logger.manager.loggerDict.items())
        if isinstance(lg, logging.Logger) and n.startswith(_QUIET_LOGGERS)
        and not lg.propagate
    ]
    for lg, _ in children:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in children:
            lg.setLevel(level)
        for logger, level in saved:
            logger.setLevel(level)


# -- the tracer -------------------------------------------------------------------------
def _wrapper(model: Any, inputs: ModelInputs, names: list[tuple[str, int, bool]]) -> Any:
    """A module holding ``model`` as ``model``; tensors in (one per input spec, put back
    in the arguments' structure), a flat tuple of tensors out."""
    import torch

    class _Export(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            setattr(self, _ROOT, model)

        def forward(self, *tensors: Any) -> Any:
            args, kwargs = inputs.assemble(tensors)
            output = getattr(self, _ROOT)(*args, **kwargs)
            groups = output_groups(output)
            names[:] = [(name, len(ts), cache) for name, ts, cache in groups]
            if not groups:
                names[:] = [(f"output ({type(output).__name__})", 0, False)]
            return tuple(t for _, ts, _ in groups for t in ts)

    return _Export()


def record_export(model: Any, inputs: ModelInputs) -> ir.Graph:
    """Trace ``model`` with ``torch.export.export`` (fake tensors) and return the op graph.

    Nothing is computed and no weight or activation is allocated; the input tensors are
    made uninitialised on the model's device (``meta`` for a model on the meta device).
    The caller passes a stand-in copy in the wanted train/eval mode. Raises a
    :class:`~drawnet.errors.TraceError` naming the module that was running when export
    failed, with the cause chained.

    Example:
        >>> import torch
        >>> from drawnet.trace.inputs import parse_inputs
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())
        >>> g = record_export(net, parse_inputs(net, [1, 4]))
        >>> [n.id for n in g.nodes], g.get_meta("tracer")
        (['input.input', '0:linear', '1:relu', 'output'], 'export')
    """
    import torch

    from drawnet.trace.eager import _model_device

    device = _model_device(model)
    modules = module_table(model)
    tensors = tuple(make_leaves(inputs, device, fill=False))
    names: list[tuple[str, int, bool]] = []
    hooks = _Hooks(model)
    handles = []
    try:
        for mod in model.modules():
            handles.append(mod.register_forward_pre_hook(hooks.pre, with_kwargs=True))
            handles.append(mod.register_forward_hook(hooks.post, with_kwargs=True))
        try:
            with _quiet(), torch.no_grad(), torch.random.fork_rng(devices=[]):
                program = torch.export.export(
                    _wrapper(model, inputs, names), tensors, strict=False
                )
        except TraceError:
            raise
        except Exception as e:
            place = "on the model's output" if hooks.finished and not hooks.stack else None
            roots = tuple(tensor_meta(t) for t in tensors)
            raise failure("export", e, hooks.where(), model, place=place,
                          root_inputs=roots) from e
    finally:
        for h in handles:
            h.remove()
    try:
        return _build(model, modules, inputs, tensors, names, hooks, program)
    except TraceError:
        raise
    except Exception as e:
        raise TracerFailure(
            f"export trace failed while reading the exported graph: {type(e).__name__}: {e}; "
            "try tracer='meta'", tracer="export",
        ) from e
    finally:
        del program


def _build(model: Any, modules: tuple[ir.ModuleInfo, ...], inputs: ModelInputs,
           tensors: tuple[Any, ...], names: list[tuple[str, int, bool]], hooks: _Hooks,
           program: Any) -> ir.Graph:
    from torch.export.graph_signature import InputKind

    graph = program.graph_module.graph
    b = _Builder(model, hooks)
    nodes: list[ir.Node] = []
    env: dict[Any, Any] = {}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    user = iter(zip(inputs.specs, tensors, strict=False))
    for ph, spec_in in zip(placeholders, program.graph_signature.input_specs, strict=False):
        if spec_in.kind == InputKind.USER_INPUT:
            pair = next(user, None)
            if pair is None:
                env[ph] = _Const(None)
                continue
            spec, t = pair
            nodes.append(input_node(spec.name, tensor_meta(t)))
            env[ph] = _Tensor(nodes[-1].id, nodes[-1].outputs[0])
        else:
            val = ph.meta.get("val")
            metas = _val_metas(val)
            env[ph] = _Tensor(None, metas[0] if metas else None)
    b.placeholders = [env.get(ph) for ph in placeholders]
    b.place(graph, program.graph_module)
    for call in b.after.pop("", ()):
        b._identity(call)
    result = b.walk(graph, program.graph_module, env)
    nodes.extend(b.nodes)
    edges = list(b.edges)
    outs = list(result.items) if isinstance(result, _Seq) else []
    out_nodes: list[ir.Node] = []
    pos = 0
    for name, count, cache in names:
        group = [o for o in outs[pos:pos + count] if isinstance(o, _Tensor)]
        pos += count
        if count == 0:
            out_nodes.append(ir.Node(id="output", kind="output", op="output", label=name))
            continue
        node = output_node(name, tuple(t.meta for t in group if t.meta is not None),
                           cache=cache)
        out_nodes.append(node)
        for t in group:
            if t.src is not None:
                edges.append(ir.Edge(t.src, node.id, t.meta))
    if not out_nodes:
        out_nodes.append(ir.Node(id="output", kind="output", op="output", label="output"))
    nodes.extend(out_nodes)
    calls = [ir.Call(id=c.id, path=c.path, class_name=c.class_name, parent=c.parent,
                     inputs=c.inputs, outputs=c.outputs) for c in hooks.ended]
    return finish_graph(model, modules, nodes, edges, calls, "export")


def _all_names(graph: Any, owner: Any) -> list[str]:
    """Node names of a graph and of the sub-graphs its higher-order ops run."""
    import torch

    out: list[str] = []
    for n in graph.nodes:
        out.append(n.name)
        if n.op == "get_attr":
            try:
                sub = operator.attrgetter(str(n.target))(owner)
            except AttributeError:
                continue
            if isinstance(sub, torch.fx.GraphModule):
                out.extend(_all_names(sub.graph, sub))
    return out
