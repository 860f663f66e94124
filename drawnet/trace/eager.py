"""Record one eager run of the model: module calls from hooks, ops from a TorchFunctionMode.

Two tracers share this recorder:

- ``meta``: the model runs on a stand-in copy whose parameters and buffers are ``meta``
  tensors, on ``meta`` inputs, so nothing is computed or allocated and the user's model
  is not touched (see :mod:`drawnet.trace.guard`). Fails on data-dependent control flow
  (``if x.sum() > 0``).
- ``eager``: a real forward pass on the model's device, on a stand-in copy with cloned
  weights and buffers (so batch-norm statistics and ``.data`` writes stay in the copy);
  follows any control flow.

Public torch APIs only: ``torch.overrides.TorchFunctionMode`` and
``nn.Module.register_forward_pre_hook``/``register_forward_hook`` (on the copy).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

from drawnet import ir, stats
from drawnet.errors import TraceError
from drawnet.trace.checks import MetaKernels
from drawnet.trace.common import (
    DATA_DEPENDENT,
    REJECTED,
    TracerFailure,
    cause_text,
    failure_kind,
    flatten_tensors,
    input_node,
    module_index,
    module_table,
    output_groups,
    output_node,
    pick_path,
    place_text,
    simple_value,
    tensor_meta,
)
from drawnet.trace.common import (
    call_id as make_call_id,
)
from drawnet.trace.fastops import RULES as _FAST_RULES
from drawnet.trace.inputs import ModelInputs, make_leaves
from drawnet.trace.moe import RULES as _MOE_RULES
from drawnet.trace.recurrent import RULES as _RNN_RULES
from drawnet.trace.scalars import NOTHING, Values

# Calls whose results say nothing about the architecture.
_SKIP = frozenset({
    "size", "dim", "shape", "numel", "stride", "is_contiguous", "_assert", "__bool__",
    "item", "tolist", "data_ptr", "element_size", "is_floating_point", "__len__",
    "__format__", "__repr__", "requires_grad_", "_has_compatible_shallow_copy_type",
    "get_device", "__index__", "__get__", "__set__", "untyped_storage",
})


def _op_name(func: Any) -> str:
    if hasattr(func, "overloadpacket") and callable(getattr(func, "name", None)):
        return str(func.name())  # an aten OpOverload (e.g. from an exported program)
    name = getattr(func, "__name__", None)
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", None) or "__get__"
    return str(name or type(func).__name__)


class _Recorder:
    """Collects calls and ops during one run; turns them into an op-level ``ir.Graph``."""

    def __init__(self, model: Any) -> None:
        import torch

        self._torch = torch
        self.paths, self.classes, self.leaf = module_index(model)
        # A model that is itself a leaf (a bare nn.Linear) is drawn as one box named by
        # its class; otherwise the root is the frame, not a box.
        self.root_call = type(model).__name__ if self.leaf.get("", False) else ""
        self.stack: list[str] = []
        self.call_counts: dict[str, int] = {}
        self.calls: list[ir.Call] = []
        self.call_inputs: dict[str, tuple[ir.TensorMeta, ...]] = {}
        self.call_sources: dict[str, tuple[str | None, ...]] = {}
        self.op_counts: dict[str, int] = {}
        self.nodes: list[ir.Node] = []
        self.scopes: dict[str, tuple[str, ...]] = {}  # node id -> scope, for O(1) lookups
        self.edges: list[ir.Edge] = []
        self.producer: dict[int, tuple[weakref.ref[Any], str]] = {}
        self.ops_in_call: dict[str, int] = {}
        self.call_paths: dict[str, str] = {}
        self.values: Values | None = None  # CPU values beside a meta run (scalars.py)
        self.op_error: tuple[BaseException, bool] | None = None  # (error, a real run's too)
        self.kernels = MetaKernels()  # torch's meta kernels, once per signature (checks.py)

    # -- tensors --------------------------------------------------------------------
    def producer_of(self, t: Any) -> str | None:
        entry = self.producer.get(id(t))
        if entry is None or entry[0]() is not t:
            return None
        return entry[1]

    def set_producer(self, t: Any, node_id: str) -> None:
        self.producer[id(t)] = (weakref.ref(t), node_id)

    # -- nodes ----------------------------------------------------------------------
    def _new_id(self, base: str) -> str:
        k = self.op_counts.get(base, 0) + 1
        self.op_counts[base] = k
        return base if k == 1 else f"{base}#{k}"

    def add_op(
        self,
        op: str,
        in_tensors: list[Any],
        out_tensors: list[Any],
        attr_map: dict[str, ir.AttrValue],
        *,
        inplace: bool = False,
    ) -> None:
        """Record one op. An output that is one of the inputs (``x.to(x.dtype)`` hands
        ``x`` back) is not claimed by a module call that started after ``x`` was made,
        unless the op is in place (``relu_``): a residual taken before a norm layer that
        casts its input with such a no-op still comes from where it was made."""
        call_id = self.stack[-1] if self.stack else ""
        path = self.call_paths.get(call_id, "")
        node_id = self._new_id(f"{call_id}:{op}")
        ins = tuple(tensor_meta(t) for t in in_tensors)
        outs = tuple(tensor_meta(t) for t in out_tensors)
        cost = stats.op_cost(op, ins, outs, attr_map)
        scope = tuple(self.stack)
        self.nodes.append(ir.Node(
            id=node_id, kind="function", op=op, module_path=path,
            class_name=self.classes.get(path, ""), inputs=ins, outputs=outs,
            macs=cost.macs, flops=cost.flops, attrs=ir.attrs(**attr_map),
            scope=scope,
        ))
        self.scopes[node_id] = scope
        for c in self.stack:
            self.ops_in_call[c] = self.ops_in_call.get(c, 0) + 1
        seen: set[str] = set()
        for t, meta in zip(in_tensors, ins, strict=True):
            src = self.producer_of(t)
            if src is not None and src not in seen:
                seen.add(src)
                self.edges.append(ir.Edge(src, node_id, meta))
        for t in out_tensors:
            if not inplace and any(t is i for i in in_tensors):
                made_in = set(self._scope_of(self.producer_of(t)))
                if any(c not in made_in for c in scope):
                    continue
            self.set_producer(t, node_id)

    # -- hooks ----------------------------------------------------------------------
    def pre_hook(self, mod: Any, args: Any, kwargs: Any) -> None:
        paths = self.paths.get(id(mod))
        if paths is None or (paths[0] == "" and not self.root_call):
            return  # a module created during forward, or the root frame
        # a module under two parents: the path under the call that made this one
        path = pick_path(paths, self.call_paths[self.stack[-1]] if self.stack else "")
        k = self.call_counts.get(path, 0) + 1
        self.call_counts[path] = k
        call_id = make_call_id(path or self.root_call, k)
        tensors = [t for _, t in flatten_tensors((args, kwargs))]
        self.call_inputs[call_id] = tuple(tensor_meta(t) for t in tensors)
        # where its inputs came from, for a partial diagram if this call fails
        self.call_sources[call_id] = tuple(self.producer_of(t) for t in tensors)
        self.call_paths[call_id] = path
        self.stack.append(call_id)

    def post_hook(self, mod: Any, args: Any, kwargs: Any, output: Any) -> None:
        paths = self.paths.get(id(mod))
        if paths is None or (paths[0] == "" and not self.root_call) or not self.stack:
            return
        call_id = self.stack[-1]
        path = self.call_paths[call_id]
        outs = [t for _, t in flatten_tensors(output)]
        if self.leaf.get(path, False) or self.ops_in_call.get(call_id, 0) == 0:
            # A module that hands back a tensor it did not make (nn.Identity, an empty
            # Sequential, a no-op Dropout) still gets a node, so its box is connected.
            for t in outs:
                src = self.producer_of(t)
                src_scope = self._scope_of(src)
                if src is None or call_id not in src_scope:
                    self.add_op("identity", [t], [t], {}, inplace=True)
        self.stack.pop()
        self.call_sources.pop(call_id, None)
        self.calls.append(ir.Call(
            id=call_id, path=path, class_name=type(mod).__name__,
            parent=self.stack[-1] if self.stack else "",
            inputs=self.call_inputs.pop(call_id, ()),
            outputs=tuple(tensor_meta(t) for t in outs),
        ))

    def _scope_of(self, node_id: str | None) -> tuple[str, ...]:
        if node_id is None:
            return ()
        return self.scopes.get(node_id, ())

    def where(self) -> tuple[str, str, tuple[ir.TensorMeta, ...]] | None:
        """The innermost module call still running: (path, class, input shapes)."""
        if not self.stack:
            return None
        call_id = self.stack[-1]
        path = self.call_paths.get(call_id, "")
        return path or call_id, self.classes.get(path, ""), self.call_inputs.get(call_id, ())


# Shape rules of their own for ops torch answers slowly on meta: recurrences in time
# independent of the sequence length, mixture-of-experts routing, slow reference kernels.
# Each answers only the plainly valid case and returns None otherwise, so torch's kernel
# runs and raises its own error. The commonest ops go through MetaKernels (checks.py).
_MORE_RULES = {**_FAST_RULES, **_RNN_RULES, **_MOE_RULES}


def _run_op(torch: Any, func: Callable[..., Any], name: str, args: Any,
            kwargs: dict[str, Any], recorder: _Recorder) -> Any:
    """Run one op: a shape rule on meta tensors where one applies, else torch's kernel
    (once per signature, see :class:`drawnet.trace.checks.MetaKernels`)."""
    result = None
    if name in _MORE_RULES:
        result = _MORE_RULES[name](torch, args, kwargs)
    if result is None:
        try:
            result = recorder.kernels.call(func, name, args, kwargs)
        except Exception as e:
            if recorder.values is not None and recorder.op_error is None:
                from drawnet.trace.failfast import replay_rejects

                recorder.op_error = (e, replay_rejects(func, args, kwargs, e))
            raise
    return result


def _make_mode(recorder: _Recorder) -> Any:
    from torch.overrides import TorchFunctionMode

    torch = recorder._torch
    values = recorder.values
    # Property reads that only look at metadata (the recorder's own hooks read them for
    # every tensor): answered before any bookkeeping.
    plain = frozenset(
        getattr(torch.Tensor, a).__get__ for a in (
            "shape", "dtype", "device", "ndim", "is_meta", "is_cuda", "is_sparse", "layout",
            "requires_grad", "is_quantized", "grad_fn", "is_leaf", "itemsize")
        if hasattr(getattr(torch.Tensor, a, None), "__get__"))

    class _RecordMode(TorchFunctionMode):
        def __torch_function__(
            self, func: Callable[..., Any], types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            if func in plain:
                return func(*args, **(kwargs or {}))
            kwargs = kwargs or {}
            name = _op_name(func)
            result = NOTHING
            if values is not None:
                try:
                    result = values.call(func, name, args, kwargs)
                except Exception as e:
                    if recorder.op_error is not None and recorder.op_error[0] is e:
                        raise  # the op's own error, from the meta run
                    result = NOTHING  # values could not be made: the plain meta run
            if result is NOTHING:
                result = _run_op(torch, func, name, args, kwargs, recorder)
            if name in _SKIP:
                return result
            outs = [t for _, t in flatten_tensors(result)]
            if not outs:
                return result
            ins: list[Any] = []
            attr_map: dict[str, ir.AttrValue] = {}
            for i, a in enumerate(args):
                if isinstance(a, torch.Tensor):
                    ins.append(a)
                elif isinstance(a, list | tuple) and a and isinstance(a[0], torch.Tensor):
                    ins.extend(x for x in a if isinstance(x, torch.Tensor))
                else:
                    ok, v = simple_value(a)
                    if ok:
                        attr_map[f"arg{i}"] = v
            for k, a in kwargs.items():
                if isinstance(a, torch.Tensor):
                    ins.append(a)
                else:
                    ok, v = simple_value(a)
                    if ok:
                        attr_map[k] = v
            inplace = (name.endswith("_") and not name.endswith("__")) or bool(
                kwargs.get("inplace")) or name.startswith("__i")
            recorder.add_op(stats.canonical_op(name), ins, outs, attr_map, inplace=inplace)
            return result

    return _RecordMode()


def record(model: Any, inputs: ModelInputs, *, tracer: str) -> ir.Graph:
    """Run ``model`` once under the recorder and return the op-level graph.

    ``tracer`` is ``"meta"`` (no compute) or ``"eager"`` (a real run). ``model`` runs as
    it is given, in its train/eval mode: :func:`drawnet.trace.trace` passes a stand-in
    copy (:func:`drawnet.trace.guard.stand_in`); for ``"meta"``, a model whose weights
    are not on ``meta`` is copied onto it here.

    Example:
        >>> import torch
        >>> from drawnet.trace.inputs import parse_inputs
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())
        >>> g = record(net, parse_inputs(net, [1, 4]), tracer="meta")
        >>> [n.id for n in g.nodes], g.get_meta("tracer")
        (['input.input', '0:linear', '1:relu', 'output'], 'meta')
    """
    import torch

    if tracer == "meta" and not on_meta(model):
        from drawnet.trace.guard import stand_in

        model = stand_in(model, "meta")
    modules = module_table(model)
    rec = _Recorder(model)
    handles = []
    try:
        for mod in model.modules():
            handles.append(mod.register_forward_pre_hook(rec.pre_hook, with_kwargs=True))
            handles.append(mod.register_forward_hook(rec.post_hook, with_kwargs=True))
        device = "meta" if tracer == "meta" else _model_device(model)
        if tracer != "meta" and str(device) == "meta":
            raise TracerFailure(
                "eager trace needs real weights but the model is on the meta device; "
                "use tracer='meta' (no compute) or tracer='export'", tracer=tracer,
            )
        leaves = make_leaves(inputs, device, fill=tracer != "meta")
        args, kwargs = inputs.assemble(leaves)
        if tracer == "meta":
            rec.values = _values_for(rec, model, inputs, leaves)
        for spec, t in zip(inputs.specs, leaves, strict=True):
            rec.nodes.append(input_node(spec.name, tensor_meta(t)))
            rec.set_producer(t, rec.nodes[-1].id)
        try:
            with torch.no_grad(), _rng_kept(device), _make_mode(rec):
                output = model(*args, **kwargs)
        except TraceError:
            raise
        except Exception as e:
            error = _trace_error(e, rec, tracer, model)
            from drawnet.trace.partial import partial_graph

            error.partial = partial_graph(model, modules, rec, tracer, error)
            raise error from e
        out_nodes: list[ir.Node] = []
        for name, tensors, cache in output_groups(output):
            out_nodes.append(output_node(name, tuple(tensor_meta(t) for t in tensors),
                                         cache=cache))
            for t in tensors:
                src = rec.producer_of(t)
                if src is not None:
                    rec.edges.append(ir.Edge(src, out_nodes[-1].id, tensor_meta(t)))
        if not out_nodes:
            out_nodes.append(ir.Node(id="output", kind="output", op="output",
                                     label=f"output ({type(output).__name__})"))
        rec.nodes.extend(out_nodes)
        del output, args, kwargs, leaves
    finally:
        for h in handles:
            h.remove()
    graph = finish_graph(model, modules, rec.nodes, rec.edges, rec.calls, tracer)
    if rec.values is not None and rec.values.notes():
        graph = graph.replace(meta=(*graph.meta, *(("note", n) for n in rec.values.notes())))
    return graph


def _values_for(rec: _Recorder, model: Any, inputs: ModelInputs, leaves: list[Any]
                ) -> Values:
    """CPU values beside a meta run: the inputs', and the small integer buffers (position
    ids, masks; never weights) of the model the meta copy was made from."""
    import torch

    root = type(model).__name__

    def place() -> str:
        where = rec.where()
        if where is None:
            return f"in {root}.forward"
        path, cls, _ = where
        return f"in {path} · {cls}" if cls else f"in {path}"

    values = Values(place, mix_cpu=True,
                    run=lambda f, n, a, k: _run_op(torch, f, n, a, k, rec))
    for spec, t in zip(inputs.specs, leaves, strict=True):
        if isinstance(t, torch.Tensor):
            if spec.tensor is not None:
                values.seed(t, spec.tensor)
            else:
                values.seed_fill(t)
    source = model.__dict__.get(SOURCE_BUFFERS) or {}
    for name, b in model.named_buffers():
        if name in source and not (b.dtype.is_floating_point or b.dtype.is_complex):
            values.seed(b, source[name])
    return values


def finish_graph(
    model: Any,
    modules: tuple[ir.ModuleInfo, ...],
    nodes: list[ir.Node],
    edges: list[ir.Edge],
    ended_calls: list[ir.Call],
    tracer: str,
) -> ir.Graph:
    """Assemble the op-level graph from what a recorder collected.

    ``nodes`` are in the order the ops ran (inputs first, outputs last), ``ended_calls``
    in the order the calls returned. Module rules set the cost of fused modules, module
    rows get their call counts and shapes, totals are summed once, and calls are put in
    the order they started.

    A model none of whose submodules ran as modules (a bare ``nn.MultiheadAttention``,
    whose forward uses its ``out_proj`` weights directly) is drawn as one box, as a leaf
    model is: its ops are put in one call named by its class.

    Example:
        >>> import torch
        >>> from drawnet.trace.common import module_table
        >>> x = ir.TensorMeta((1, 4))
        >>> nodes = [ir.Node(id="input.x", kind="input", op="input", outputs=(x,)),
        ...          ir.Node(id=":relu", kind="function", op="relu", inputs=(x,), outputs=(x,)),
        ...          ir.Node(id="output", kind="output", op="output", inputs=(x,))]
        >>> edges = [ir.Edge("input.x", ":relu", x), ir.Edge(":relu", "output", x)]
        >>> model = torch.nn.ReLU()
        >>> g = finish_graph(model, module_table(model), nodes, edges, [], "meta")
        >>> [n.id for n in g.nodes], [c.id for c in g.calls]
        (['input.x', 'ReLU:relu', 'output'], ['ReLU'])
    """
    if not ended_calls and any(n.kind == "function" for n in nodes):
        nodes, edges, ended_calls = _root_as_call(model, nodes, edges)
    nodes = _apply_module_rules(nodes, ended_calls, modules)
    modules = _with_calls(modules, tuple(ended_calls))
    totals = ir.Totals(
        params=sum(m.params for m in modules),
        trainable_params=sum(m.trainable_params for m in modules),
        buffers=sum(m.buffers for m in modules),
        param_bytes=sum(m.param_bytes for m in modules),
        buffer_bytes=sum(m.buffer_bytes for m in modules),
        macs=sum(n.macs for n in nodes), flops=sum(n.flops for n in nodes),
    )
    unique_edges = _dedupe(edges)
    return ir.Graph(
        nodes=ir.topo_sort(nodes, unique_edges), edges=unique_edges, modules=modules,
        calls=tuple(sorted(ended_calls, key=_call_order(nodes, ended_calls))), totals=totals,
        meta=(("model", type(model).__name__), ("tracer", tracer)),
    )


def _root_as_call(
    model: Any, nodes: list[ir.Node], edges: list[ir.Edge]
) -> tuple[list[ir.Node], list[ir.Edge], list[ir.Call]]:
    """Put every op in one call of the root module (see :func:`finish_graph`)."""
    root = type(model).__name__
    renamed: dict[str, str] = {}
    out: list[ir.Node] = []
    for n in nodes:
        if n.kind == "function":
            renamed[n.id] = f"{root}{n.id}" if n.id.startswith(":") else n.id
            n = n.replace(id=renamed[n.id], scope=(root, *n.scope), class_name=root)
        out.append(n)
    moved = [ir.Edge(renamed.get(e.src, e.src), renamed.get(e.dst, e.dst), e.tensor)
             for e in edges]
    call = ir.Call(
        id=root, path="", class_name=root,
        inputs=tuple(m for n in nodes if n.kind == "input" for m in n.outputs),
        outputs=tuple(m for n in nodes if n.kind == "output" for m in n.inputs),
    )
    return out, moved, [call]


def _call_order(nodes: list[ir.Node], ended: list[ir.Call]) -> Callable[[ir.Call], int]:
    # Calls are appended when they end; present them in the order they started (the
    # first op inside them); a call without ops goes after all ops, in the order it ended.
    first_seen: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for c in n.scope:
            first_seen.setdefault(c, i)
    ends = {c.id: i for i, c in enumerate(ended)}
    return lambda c: first_seen.get(c.id, len(nodes) + ends[c.id]) * 4096 + len(
        c.id.split(".")
    )


def _dedupe(edges: list[ir.Edge]) -> tuple[ir.Edge, ...]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in edges:
        if e.src != e.dst and (e.src, e.dst) not in seen:
            seen.add((e.src, e.dst))
            out.append(e)
    return tuple(out)


def _apply_module_rules(
    nodes: list[ir.Node], calls: list[ir.Call], modules: tuple[ir.ModuleInfo, ...]
) -> list[ir.Node]:
    """Give fused modules (attention, RNNs) the cost of their whole rule, not their ops."""
    by_path = {m.path: m for m in modules}
    ruled = {c.id for c in calls if c.class_name in stats.MODULE_RULES}
    if not ruled:
        return list(nodes)
    members: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for c in n.scope:
            if c in ruled:
                members.setdefault(c, []).append(i)
    out = list(nodes)
    for call in calls:
        if call.id not in ruled:
            continue
        info = by_path.get(call.path)
        cost = stats.module_cost(call.class_name, dict(info.attrs) if info else {},
                                 call.inputs, call.outputs)
        if cost is None:
            continue
        first = True
        for i in members.get(call.id, []):
            out[i] = out[i].replace(macs=cost.macs if first else 0,
                                    flops=cost.flops if first else 0)
            first = False
    return out


def _with_calls(
    modules: tuple[ir.ModuleInfo, ...], calls: tuple[ir.Call, ...]
) -> tuple[ir.ModuleInfo, ...]:
    count: dict[str, int] = {}
    first: dict[str, ir.Call] = {}
    for c in calls:
        count[c.path] = count.get(c.path, 0) + 1
        if c.path not in first or c.id == c.path:
            first[c.path] = c
    out = []
    for m in modules:
        call = first.get(m.path)
        if call is not None:
            m = dataclasses.replace(m, calls=count[m.path], inputs=call.inputs,
                                    outputs=call.outputs)
        out.append(m)
    return tuple(out)


def _model_device(model: Any) -> Any:
    """The device of the model's weights; ``meta`` if any weight is there (a model built
    under ``torch.device("meta")`` may keep a tensor its code made on the CPU, and
    cannot compute either way)."""
    import torch

    first = None
    for t in (*model.parameters(), *model.buffers()):
        if t.device.type == "meta":
            return t.device
        first = first or t.device
    return first or torch.device("cpu")


def _rng_kept(device: Any) -> Any:
    """Give back the global RNG state after a run (Dropout in train mode draws from it)."""
    import torch

    devices = [device] if getattr(device, "type", str(device)) == "cuda" else []
    return torch.random.fork_rng(devices=devices)


SOURCE_ON_META = "_drawnet_source_on_meta"
"""Attribute of a stand-in copy: whether the user's own model has its weights on meta
(the meta tracer's copy always has; hints are about the user's model)."""
SOURCE_BUFFERS = "_drawnet_source_buffers"
"""Attribute of a meta stand-in copy: the user's integer buffers by name (position ids,
masks), whose values the meta trace may read (never written; see trace/scalars.py)."""


def on_meta(model: Any) -> bool:
    """Whether the model's weights live on the ``meta`` device (no values to compute with).

    Example:
        >>> import torch
        >>> on_meta(torch.nn.Linear(2, 2)), on_meta(torch.nn.Linear(2, 2, device="meta"))
        (False, True)
    """
    return str(_model_device(model)) == "meta"


def failure(
    tracer: str, e: BaseException, where: tuple[str, str, tuple[ir.TensorMeta, ...]] | None,
    model: Any, *, place: str | None = None, root_inputs: tuple[ir.TensorMeta, ...] = (),
    kind: str | None = None,
) -> TracerFailure:
    """The :class:`TracerFailure` for exception ``e`` raised while ``tracer`` ran the model.

    ``where`` is the innermost module call still running (path, class, input shapes), or
    None in the root module's own code (then ``root_inputs`` are the shapes shown); the
    message names it, the tracer, the cause, and the tracer that may work instead.

    Example:
        >>> import torch
        >>> e = failure("meta", RuntimeError("boom"), None, torch.nn.Identity(),
        ...             root_inputs=(ir.TensorMeta((1, 4)),))
        >>> str(e).split(";")[0]
        'meta trace failed in Identity.forward (input 1×4): RuntimeError: boom'
    """
    if place is None:
        if where is None:  # between child calls, in the root module's own code
            where = (f"{type(model).__name__}.forward", "", root_inputs)
            place = place_text(*where)
        else:
            place = place_text(*where, expects=_expects(model, where[0], where[1]))
    from drawnet.trace.blame import MODEL_CODE, model_code

    cause = cause_text(e)
    kind = failure_kind(e) if kind is None else kind
    advice = model_code(e) if kind != DATA_DEPENDENT else ""
    if advice and kind != REJECTED:
        kind = MODEL_CODE
    return TracerFailure(
        f"{tracer} trace failed {place}: {cause}; {advice or hint(tracer, kind, model)}",
        tracer=tracer, place=place, cause=cause, kind=kind)


def _expects(model: Any, path: str, class_name: str) -> str:
    """What the layer at ``path`` expects as input (``expects N×3×H×W or 3×H×W``), or ''."""
    from drawnet import errors

    expected_input = getattr(errors, "expected_input", None)
    if expected_input is None or not class_name:
        return ""
    try:
        module = model.get_submodule(path) if path and path != class_name else model
    except AttributeError:
        return ""
    from drawnet.trace.common import module_attrs

    try:
        return str(expected_input(class_name, dict(module_attrs(module))))
    except Exception:
        return ""


def hint(tracer: str, kind: str, model: Any) -> str:
    """Which tracer to try instead, given who failed and why (see :func:`failure`).

    Example:
        >>> import torch
        >>> hint("meta", "data-dependent", torch.nn.Linear(2, 2))
        "the model branches on tensor values, which only a real run can follow: use tracer='eager'"
    """
    if kind == REJECTED:
        return "a real run stops there too: check the input shapes and dtypes"
    meta_weights = getattr(model, SOURCE_ON_META, None)  # set on stand-in copies
    if not isinstance(meta_weights, bool):
        meta_weights = on_meta(model)
    if kind == DATA_DEPENDENT:
        if meta_weights:
            return ("the model branches on tensor values, which only a real run can follow, "
                    "and its weights are on the meta device: load real weights (e.g. "
                    "model.to_empty(device='cpu') then load_state_dict) and use tracer='eager'")
        if tracer in ("eager", "jit"):
            return "the model branches on tensor values; check the input values and shapes"
        return ("the model branches on tensor values, which only a real run can follow: "
                "use tracer='eager'")
    if tracer == "meta":
        return ("if the error comes from the meta device, try tracer='export' (fake tensors, "
                "no compute)" + ("" if meta_weights else " or tracer='eager' (a real run)"))
    if tracer == "export":
        return "try tracer='meta' (no compute)" + (
            "" if meta_weights else " or tracer='eager' (a real run)")
    return "check the input shapes and dtypes, or try tracer='meta' or tracer='export'"


def _trace_error(e: BaseException, rec: _Recorder, tracer: str, model: Any) -> TraceError:
    from drawnet.trace.failfast import own_python_error

    roots = tuple(n.outputs[0] for n in rec.nodes if n.kind == "input" and n.outputs)
    rejected = rec.values is not None and (
        (rec.op_error is not None and rec.op_error[1] and _caused_by(e, rec.op_error[0]))
        or (rec.op_error is None and own_python_error(e)))
    return failure(tracer, e, rec.where(), model, root_inputs=roots,
                   kind=REJECTED if rejected else None)


def _caused_by(e: BaseException, origin: BaseException) -> bool:
    """Whether ``e`` is ``origin`` or was raised while handling it."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if cur is origin:
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False
