"""The per-layer table: torchinfo's layout, drawnet's counts.

:func:`build_summary` reads an op-level :class:`~drawnet.ir.Graph` (what
:func:`drawnet.trace_model` returns) and gives a :class:`Summary`: one row per module
call in the order the calls started, like ``torchinfo.summary``, with the module tree
drawn as ``├─Conv2d: 1-1``, and the totals block torchinfo users know. Nothing here
imports torch.

How a row gets its numbers (``depth`` is the deepest row shown):

- *MACs and FLOPs* come from the ops: every op node counts towards the innermost module
  call it ran in (its ``scope``), and a call deeper than ``depth`` hands its ops to its
  nearest shown ancestor. A row at the cutoff, or a leaf module, therefore shows all the
  work inside it; a container above the cutoff shows only its own ops (the residual
  ``add`` of a block, the attention matmuls a ``BertSelfAttention`` runs between its
  ``Linear`` children), where torchinfo shows ``--``. ``inclusive_macs`` has the whole
  subtree for every row.
- *Params* follow torchinfo: a leaf row or a row at the cutoff shows all the parameters
  below it, a container above the cutoff only those no shown row below it holds (its
  own, and those of children that never ran), ``--`` for none, ``(recursive)`` for the
  second call of a module that has parameters. Tied tensors count once, at their first
  owner.

So every column sums to its total over the rows of any depth: ``sum(r.params) ==
total_params`` and ``sum(r.macs) == total_macs``.

The memory figures are torchinfo's: *Input size* is the bytes of the model's input
tensors; *Forward/backward pass size* is twice the bytes of the (first) output of every
call of a leaf module that has parameters; *Params size* the bytes of all parameters; a
megabyte is 10**6 bytes.

Example:
    >>> from drawnet.ir import Call, Graph, ModuleInfo, Node, TensorMeta as T
    >>> x, y = T((1, 4)), T((1, 2))
    >>> g = Graph(
    ...     nodes=(Node(id="input.x", kind="input", op="input", outputs=(x,)),
    ...            Node(id="fc:linear", kind="function", op="linear", scope=("fc",),
    ...                 inputs=(x,), outputs=(y,), macs=8, flops=18),
    ...            Node(id="output", kind="output", op="output", inputs=(y,))),
    ...     modules=(ModuleInfo("", "Net", is_leaf=False),
    ...              ModuleInfo("fc", "Linear", params=10, trainable_params=10, param_bytes=40)),
    ...     calls=(Call("fc", "fc", "Linear", inputs=(x,), outputs=(y,)),))
    >>> s = build_summary(g)
    >>> [(r.class_name, r.depth, r.params, r.macs) for r in s.layers]
    [('Net', 0, 0, 0), ('Linear', 1, 10, 8)]
    >>> print(s.to_text().splitlines()[4])
    ├─Linear: 1-1                            [1, 2]                    10                        8
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from drawnet import ir
from drawnet.errors import (
    MissingDependencyError,
    OptionError,
    OptionTypeError,
    choices,
    safe_repr,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "FORMATS",
    "LayerRow",
    "Summary",
    "build_summary",
    "check_columns",
    "check_depth",
    "require_pandas",
    "stats_frame",
    "stats_rows",
]

COLUMNS: tuple[str, ...] = (
    "input_shape", "output_shape", "kernel", "params", "params_percent", "macs", "flops",
    "memory", "trainable",
)
"""Every column :class:`Summary` can show, in torchinfo's order."""

DEFAULT_COLUMNS: tuple[str, ...] = ("output_shape", "params", "macs")

FORMATS: tuple[str, ...] = ("table", "json", "csv", "markdown")
"""What :meth:`Summary.to_text` can write."""

HEADERS: Mapping[str, str] = {
    "input_shape": "Input Shape",
    "output_shape": "Output Shape",
    "kernel": "Kernel Shape",
    "params": "Param #",
    "params_percent": "Param %",
    "macs": "Mult-Adds",
    "flops": "FLOPs",
    "memory": "Memory (read / write)",
    "trainable": "Trainable",
}

LAYER_HEADER = "Layer (type:depth-idx)"
COL_WIDTH = 25
NAME_WIDTH = 40
NOTE = ("Mult-adds are counted per op from tensor shapes (attention matmuls included); "
        "tied parameters are counted once.")

Shape = tuple[int, ...]
Kernel = tuple[int, ...] | int | None


def check_columns(columns: str | Iterable[str]) -> tuple[str, ...]:
    """Validate a column selection: names from :data:`COLUMNS`, each once, in any order.

    A string is split on commas (as the command line gives it).

    Example:
        >>> check_columns("output_shape, params")
        ('output_shape', 'params')
        >>> check_columns(["macs", "bogus"])
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionError: unknown column: 'bogus' (must be one of 'input_shape', \
'output_shape', 'kernel', 'params', 'params_percent', 'macs', 'flops', 'memory', 'trainable')
    """
    if isinstance(columns, str):
        names: list[object] = [c.strip() for c in columns.split(",")]
    elif isinstance(columns, Sequence) and not isinstance(columns, bytes | bytearray):
        names = list(columns)
    else:
        raise OptionTypeError(
            "columns must be a comma-separated string or a list of column names, got "
            f"{type(columns).__name__} {safe_repr(columns)}")
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in COLUMNS:
            raise choices(name, COLUMNS, "column")
        if name in out:
            raise OptionError(f"column {name!r} is listed twice")
        out.append(name)
    if not out:
        raise OptionError(f"no columns given (choose from {', '.join(map(repr, COLUMNS))})")
    return tuple(out)


def check_depth(depth: int | None) -> int | None:
    """Validate ``depth``: a whole number >= 0 (0 shows the model's row alone) or None (all).

    Example:
        >>> check_depth(3), check_depth(None)
        (3, None)
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise OptionError(f"depth must be a whole number >= 0 or None, got {safe_repr(depth)}")
    return depth


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One row of the table: a module call (or a container that holds calls).

    ``params``, ``trainable_params``, ``macs`` and ``flops`` are what the row shows, so
    they sum to the totals (see the module docstring); ``inclusive_*`` count everything
    inside the call. ``input_bytes``/``output_bytes`` are the activations the call reads
    and writes (all its tensors), ``param_bytes`` the parameters it reads. ``called`` is
    False for a container whose ``forward`` never ran (a ``ModuleList``), shown to keep
    the tree whole; ``recursive`` marks a second call, or a second row, of one module;
    ``folded`` a row at the depth cutoff that holds deeper calls.
    """

    call_id: str
    module_path: str
    class_name: str
    depth: int
    depth_index: int
    input_shape: Shape | None
    output_shape: Shape | None
    dtype: str
    kernel: Kernel
    params: int
    trainable_params: int
    macs: int
    flops: int
    inclusive_params: int
    inclusive_trainable_params: int
    inclusive_macs: int
    inclusive_flops: int
    input_bytes: int
    output_bytes: int
    param_bytes: int
    is_leaf: bool
    folded: bool
    recursive: bool
    called: bool

    @property
    def name(self) -> str:
        """``Class: depth-idx`` as torchinfo prints it (the class alone at depth 0).

        Example:
            >>> _row(class_name="Conv2d", depth=1, depth_index=1).name
            'Conv2d: 1-1'
        """
        return self.class_name if self.depth == 0 else (
            f"{self.class_name}: {self.depth}-{self.depth_index}")

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON-ready values (shapes and kernels as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, repr=False)
class Summary:
    """Per-layer statistics of one model, and the table that shows them.

    ``print(s)`` gives the torchinfo-style table; :meth:`to_text` also writes JSON, CSV
    and Markdown; :meth:`to_dict`, :meth:`to_pandas` give the data; in Jupyter it shows
    as an HTML table. ``layers`` are the rows down to ``depth``.
    """

    model: str
    layers: tuple[LayerRow, ...]
    total_params: int
    trainable_params: int
    total_macs: int
    total_flops: int
    input_bytes: int
    forward_backward_bytes: int
    param_bytes: int
    depth: int | None = 3
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    tracer: str = ""
    notes: tuple[str, ...] = ()
    inputs: str = ""
    """The inputs drawnet inferred (``input_ids 1×128 int64``), when none were given."""
    inputs_source: str = ""

    @property
    def non_trainable_params(self) -> int:
        """Parameters with ``requires_grad=False``."""
        return self.total_params - self.trainable_params

    @property
    def total_bytes(self) -> int:
        """Input + forward/backward + params bytes (torchinfo's *Estimated Total Size*)."""
        return self.input_bytes + self.forward_backward_bytes + self.param_bytes

    # -- data -----------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        """The whole-model figures as a dict of ints (bytes for sizes)."""
        return {
            "params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.total_macs,
            "flops": self.total_flops,
            "input_bytes": self.input_bytes,
            "forward_backward_bytes": self.forward_backward_bytes,
            "param_bytes": self.param_bytes,
            "total_bytes": self.total_bytes,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain values that ``json.dumps`` accepts.

        Example:
            >>> s = Summary("Net", (), 0, 0, 0, 0, 0, 0, 0)
            >>> sorted(s.to_dict())
            ['columns', 'depth', 'inputs', 'layers', 'model', 'notes', 'totals', 'tracer']
        """
        return {
            "model": self.model,
            "tracer": self.tracer,
            "notes": list(self.notes),
            "inputs": self.inputs,
            "depth": self.depth,
            "columns": list(self.columns),
            "totals": self.totals(),
            "layers": [r.to_dict() for r in self.layers],
        }

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` with one row per layer and a column per field."""
        pd = require_pandas("Summary.to_pandas()")
        names = [f.name for f in fields(LayerRow)]
        return pd.DataFrame([[getattr(r, n) for n in names] for r in self.layers],
                            columns=names)

    # -- text -----------------------------------------------------------------------------

    def to_text(self, format: str = "table") -> str:
        """The summary as ``table`` (torchinfo's layout), ``json``, ``csv`` or ``markdown``.

        Example:
            >>> Summary("Net", (), 0, 0, 0, 0, 0, 0, 0).to_text("yaml")
            Traceback (most recent call last):
            ...
            drawnet.errors.OptionError: unknown format: 'yaml' (must be one of 'table', \
'json', 'csv', 'markdown')
        """
        if format == "table":
            return self._table()
        if format == "json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        if format == "csv":
            return self._csv()
        if format == "markdown":
            return self._markdown()
        raise choices(format, FORMATS, "format")

    def __str__(self) -> str:
        return self._table()

    def __repr__(self) -> str:
        return self._table()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._headers())
        body = []
        for r in self.layers:
            indent = "&nbsp;" * 4 * max(r.depth - 1, 0) + ("└─" if r.depth > 1 else
                                                           "├─" if r.depth == 1 else "")
            cells = [f'<td style="text-align:left;font-family:monospace">{indent}'
                     f"{html.escape(r.name)}</td>"]
            cells += [f'<td style="text-align:right">{html.escape(self._cell(r, c).strip())}'
                      "</td>" for c in self.columns]
            body.append(f"<tr>{''.join(cells)}</tr>")
        totals = "".join(f'<tr><th style="text-align:left">{html.escape(k)}</th>'
                         f'<td style="text-align:right">{html.escape(v)}</td></tr>'
                         for block in self._total_blocks() for k, v in block)
        return (f'<table class="drawnet-summary"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table>"
                f'<table class="drawnet-summary-totals">{totals}</table>'
                f"<p><small>{html.escape(NOTE)}</small></p>")

    def _headers(self) -> list[str]:
        return [LAYER_HEADER, *(HEADERS[c] for c in self.columns)]

    def _name_width(self) -> int:
        longest = max((len(r.name) + r.depth * 5 + 1 for r in self.layers), default=0)
        return NAME_WIDTH if longest < NAME_WIDTH else -(-longest // 5) * 5

    def _cell(self, r: LayerRow, column: str) -> str:
        if column == "input_shape":
            return _shape_text(r.input_shape)
        if column == "output_shape":
            return _shape_text(r.output_shape)
        if column == "kernel":
            return "--" if r.kernel is None else (
                str(list(r.kernel)) if isinstance(r.kernel, tuple) else str(r.kernel))
        if column == "params":
            if r.inclusive_params == 0 and r.params == 0:
                return "--"
            if r.recursive:
                return "(recursive)"
            if r.params == 0:
                return "--"
            text = f"{r.params:,}"
            return f"({text})" if r.trainable_params == 0 else text
        if column == "params_percent":
            if r.recursive and r.inclusive_params:
                return "(recursive)"
            if r.params == 0 or self.total_params == 0:
                return "     --"
            return f"{r.params / self.total_params:>7.2%}"
        if column == "macs":
            return f"{r.macs:,}" if r.macs else "--"
        if column == "flops":
            return f"{r.flops:,}" if r.flops else "--"
        if column == "memory":
            if not r.called:
                return "--"
            return f"{_bytes_text(r.input_bytes + r.param_bytes)} / {_bytes_text(r.output_bytes)}"
        if column == "trainable":
            if r.inclusive_params == 0:
                return "--"
            if r.inclusive_trainable_params == 0:
                return "False"
            return "True" if r.inclusive_trainable_params == r.inclusive_params else "Partial"
        raise choices(column, COLUMNS, "column")

    def _total_blocks(self) -> list[list[tuple[str, str]]]:
        counts = [
            ("Total params", f"{self.total_params:,}"),
            ("Trainable params", f"{self.trainable_params:,}"),
            ("Non-trainable params", f"{self.non_trainable_params:,}"),
            _with_unit("Total mult-adds", *_readable(self.total_macs)),
        ]
        if "flops" in self.columns:
            counts.append(_with_unit("Total FLOPs", *_readable(self.total_flops)))
        sizes = [
            _with_unit(name, *_readable_bytes(n)) for name, n in (
                ("Input size", self.input_bytes),
                ("Forward/backward pass size", self.forward_backward_bytes),
                ("Params size", self.param_bytes),
                ("Estimated Total Size", self.total_bytes))
        ]
        return [counts, sizes]

    def _table(self) -> str:
        width = self._name_width()

        def line(name: str, values: Sequence[str]) -> str:
            text = f"{name:<{width}} " + "".join(f"{v:<{COL_WIDTH}} " for v in values)
            return text.rstrip() + "\n"

        divider = "=" * (width + COL_WIDTH * len(self.columns)) + "\n"
        out = [divider, line(LAYER_HEADER, [HEADERS[c] for c in self.columns]), divider]
        if self.inputs:
            out.insert(0, f"Inputs inferred from {self.inputs_source or 'the model'}: "
                          f"{self.inputs}\n")
        for r in self.layers:
            out.append(line(_tree_prefix(r.depth) + r.name,
                            [self._cell(r, c) for c in self.columns]))
        for block in self._total_blocks():
            out.append(divider)
            out.extend(f"{k}: {v}\n" for k, v in block)
        out.append(divider)
        out.append(NOTE + "\n")
        if self.tracer:
            out.append(f"Traced with the {self.tracer!r} tracer.\n")
        out.extend(f"Note: {n}\n" for n in self.notes)
        return "".join(out)

    def _markdown(self) -> str:
        def row(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n"

        heads = self._headers()
        out = [row(heads), "|" + "|".join(["---"] + ["---:"] * (len(heads) - 1)) + "|\n"]
        if self.inputs:
            out.insert(0, f"Inputs inferred from {self.inputs_source or 'the model'}: "
                          f"{self.inputs}\n\n")
        for r in self.layers:
            prefix = _tree_prefix(r.depth).replace(" ", "\u00a0")
            out.append(row([prefix + r.name, *(self._cell(r, c).strip() for c in self.columns)]))
        out.append("\n| Total | |\n|---|---:|\n")
        out.extend(row([k, v]) for block in self._total_blocks() for k, v in block)
        out.append(f"\n{NOTE}\n")
        return "".join(out)

    def _csv(self) -> str:
        buf = io.StringIO()
        names = [f.name for f in fields(LayerRow)]
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        for r in self.layers:
            d = r.to_dict()
            writer.writerow(["" if d[n] is None else csv_cell(d[n]) for n in names])
        return buf.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a ``'``.

    Module names come from the model's code, so ``=HYPERLINK(...)`` or ``=cmd|...`` would
    otherwise be a formula when the CSV is opened in a spreadsheet (CSV injection). Only
    text is changed; numbers (negative ones too) are written as they are.

    Example:
        >>> csv_cell("=cmd|' /C calc'!A0"), csv_cell("-1+1"), csv_cell(-3), csv_cell("fc")
        ("'=cmd|' /C calc'!A0", "'-1+1", -3, 'fc')
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _row(**changes: Any) -> LayerRow:
    """A blank row with some fields set (for examples and tests)."""
    base: dict[str, Any] = {f.name: None for f in fields(LayerRow)}
    base.update(call_id="", module_path="", class_name="", depth=0, depth_index=0, dtype="",
                is_leaf=True, folded=False, recursive=False, called=True)
    for f in fields(LayerRow):
        if base[f.name] is None and f.name not in ("input_shape", "output_shape", "kernel"):
            base[f.name] = 0
    base.update(changes)
    return LayerRow(**base)


def _tree_prefix(depth: int) -> str:
    if depth == 0:
        return ""
    if depth == 1:
        return "├─"
    return "│    " * (depth - 1) + "└─"


def _shape_text(shape: Shape | None) -> str:
    return "--" if shape is None else str(list(shape))


def _readable(n: int) -> tuple[str, str]:
    """torchinfo's ``to_readable`` (T, G or M, two decimals unless a whole number), but
    never rounded to zero: a count under 0.005 M is given in k, under a thousand as it is.

    Example:
        >>> _readable(1_814_083_944), _readable(40_320), _readable(4_032), _readable(40)
        (('G', '1.81'), ('M', '0.04'), ('k', '4.03'), ('', '40'))
    """
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if n >= size or (unit == "M" and n >= 5_000):
            scaled = n / size
            return unit, (f"{int(scaled):,d}" if scaled.is_integer() else f"{scaled:,.2f}")
    if n >= 1_000:
        return "k", f"{n / 1e3:,.2f}"
    return "", f"{n:,d}"


def _readable_bytes(n: int) -> tuple[str, str]:
    """A size in MB, as torchinfo gives it, unless that rounds to 0.00: then kB, or B
    under a kilobyte (a true 0 stays ``0.00`` MB).

    Example:
        >>> _readable_bytes(87_110_000), _readable_bytes(602_112), _readable_bytes(2_048)
        (('MB', '87.11'), ('MB', '0.60'), ('kB', '2.05'))
        >>> _readable_bytes(16), _readable_bytes(0)
        (('B', '16'), ('MB', '0.00'))
    """
    if n >= 5_000 or n == 0:
        return "MB", f"{n / 1e6:0.2f}"
    if n >= 1_000:
        return "kB", f"{n / 1e3:0.2f}"
    return "B", f"{n:,d}"


def _with_unit(name: str, unit: str, value: str) -> tuple[str, str]:
    return (f"{name} ({unit})" if unit else name), value


def _bytes_text(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def require_pandas(what: str) -> Any:
    """Import pandas, or raise :class:`MissingDependencyError` naming ``what`` needs it.

    pandas is an install requirement of drawnet (small beside torch, and it makes
    ``model_stats()`` and ``Summary.to_pandas()`` work from the quick start); this only
    guards an environment where it was removed afterwards.
    """
    try:
        import pandas
    except ImportError as e:
        raise MissingDependencyError(
            f"{what} needs pandas, which drawnet depends on but is missing here: "
            "pip install pandas (or reinstall drawnet)"
        ) from e
    return pandas


# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------


@dataclass
class _Draft:
    call_id: str
    path: str
    class_name: str
    depth: int
    parent: int
    inputs: tuple[ir.TensorMeta, ...]
    outputs: tuple[ir.TensorMeta, ...]
    called: bool
    recursive: bool
    depth_index: int = 0
    self_macs: int = 0
    self_flops: int = 0


def _parent_path(path: str) -> str:
    return path.rpartition(".")[0]


def _drafts(graph: ir.Graph, modules: Mapping[str, ir.ModuleInfo]) -> tuple[
    list[_Draft], dict[str, int]
]:
    """Rows for every call, in start order, with the containers torchinfo inserts."""
    root_call = next((c for c in graph.calls if c.path == ""), None)
    if root_call is not None:
        root_in, root_out = root_call.inputs, root_call.outputs
    else:
        root_in = tuple(t for n in graph.nodes if n.kind == "input" for t in n.outputs)
        root_out = tuple(t for n in graph.nodes if n.kind == "output" for t in n.inputs)
    root_info = modules.get("")
    root_class = root_info.class_name if root_info else graph.get_meta("model", "Model")
    drafts = [_Draft(root_call.id if root_call else "", "", root_class, 0, -1, root_in,
                     root_out, called=True, recursive=False)]
    call_row: dict[str, int] = {}
    seen = {""}
    hierarchy: dict[int, int] = {0: 0}

    def add(draft: _Draft) -> int:
        drafts.append(draft)
        seen.add(draft.path)
        hierarchy[draft.depth] = len(drafts) - 1
        for deeper in [d for d in hierarchy if d > draft.depth]:
            del hierarchy[deeper]
        return len(drafts) - 1

    for call in graph.calls:
        if call.path == "":
            call_row[call.id] = 0
            continue
        parts = call.path.split(".")
        ends = [i for i, ch in enumerate(call.path) if ch == "."]  # ancestor k: path[:ends[k-1]]
        # the open rows (hierarchy) are a chain of ancestors: find the deepest one that is
        # still this call's ancestor, and add rows only below it (linear in the depth,
        # also for models nested a thousand levels deep)
        start = 1
        for k in range(len(parts) - 1, 0, -1):
            current = hierarchy.get(k)
            if current is not None and drafts[current].path == call.path[:ends[k - 1]]:
                start = k + 1
                break
        for k in range(start, len(parts)):
            ancestor = call.path[:ends[k - 1]]
            current = hierarchy.get(k)
            if current is None or drafts[current].path != ancestor:
                info = modules.get(ancestor)
                add(_Draft("", ancestor, info.class_name if info else "", k, hierarchy[k - 1],
                           (), (), called=False, recursive=ancestor in seen))
        call_row[call.id] = add(_Draft(
            call.id, call.path, call.class_name, len(parts), hierarchy[len(parts) - 1],
            call.inputs, call.outputs, called=True, recursive=call.path in seen))
    counters: dict[int, int] = {}
    for d in drafts[1:]:
        counters[d.depth] = counters.get(d.depth, 0) + 1
        d.depth_index = counters[d.depth]
    return drafts, call_row


def build_summary(graph: ir.Graph, *, depth: int | None = 3,
                  columns: str | Iterable[str] = DEFAULT_COLUMNS) -> Summary:
    """Build the :class:`Summary` of an op-level graph (see the module docstring).

    ``depth`` is the deepest row shown (None: all); deeper calls fold into their
    ancestor at ``depth``. ``columns`` picks from :data:`COLUMNS`.
    """
    depth = check_depth(depth)
    cols = check_columns(columns)
    modules = {m.path: m for m in graph.modules}
    drafts, call_row = _drafts(graph, modules)
    n = len(drafts)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, d in enumerate(drafts[1:], start=1):
        children[d.parent].append(i)

    # ops to the innermost call they ran in
    for node in graph.nodes:
        if not (node.macs or node.flops):
            continue
        row = next((call_row[s] for s in reversed(node.scope) if s in call_row), 0)
        drafts[row].self_macs += node.macs
        drafts[row].self_flops += node.flops
    incl_macs = [d.self_macs for d in drafts]
    incl_flops = [d.self_flops for d in drafts]
    for i in range(n - 1, 0, -1):
        incl_macs[drafts[i].parent] += incl_macs[i]
        incl_flops[drafts[i].parent] += incl_flops[i]

    def shown(i: int) -> bool:
        return depth is None or drafts[i].depth <= depth

    visible = [i if shown(i) else -1 for i in range(n)]
    for i in range(1, n):
        if visible[i] < 0:
            visible[i] = visible[drafts[i].parent]
    macs, flops = [0] * n, [0] * n
    for i, d in enumerate(drafts):
        macs[visible[i]] += d.self_macs
        flops[visible[i]] += d.self_flops

    # params to the deepest shown row on the module's path (first row of that path)
    first_row: dict[str, int] = {}
    for i, d in enumerate(drafts):
        first_row.setdefault(d.path, i)
    params, trainable = [0] * n, [0] * n
    incl_params: dict[str, int] = {}
    incl_trainable: dict[str, int] = {}
    incl_bytes: dict[str, int] = {}
    for m in graph.modules:
        if not (m.params or m.trainable_params or m.param_bytes):
            continue
        path = m.path
        while True:
            found = first_row.get(path)
            if path == "" or (found is not None and shown(found)):
                target = 0 if found is None else found
                params[target] += m.params
                trainable[target] += m.trainable_params
                break
            path = _parent_path(path)
        prefix = m.path
        while True:
            incl_params[prefix] = incl_params.get(prefix, 0) + m.params
            incl_trainable[prefix] = incl_trainable.get(prefix, 0) + m.trainable_params
            incl_bytes[prefix] = incl_bytes.get(prefix, 0) + m.param_bytes
            if prefix == "":
                break
            prefix = _parent_path(prefix)

    rows: list[LayerRow] = []
    forward_backward = 0
    for i, d in enumerate(drafts):
        info = modules.get(d.path)
        is_leaf = info.is_leaf if info is not None else not children[i]
        holds = incl_params.get(d.path, 0) > 0 or (info is not None and info.tied_params > 0)
        if d.called and is_leaf and holds and d.outputs:  # tied weights too (a tied LM head)
            forward_backward += 2 * d.outputs[0].nbytes
        if not shown(i):
            continue
        folded = any(not shown(c) for c in children[i])
        shows_all = not any(shown(c) for c in children[i])
        kernel = dict(info.attrs).get("kernel_size") if info is not None else None
        rows.append(LayerRow(
            call_id=d.call_id,
            module_path=d.path,
            class_name=d.class_name,
            depth=d.depth,
            depth_index=d.depth_index,
            input_shape=d.inputs[0].shape if d.inputs else None,
            output_shape=d.outputs[0].shape if d.outputs else None,
            dtype=d.outputs[0].dtype if d.outputs else "",
            kernel=kernel if isinstance(kernel, (int, tuple)) and not isinstance(
                kernel, bool) else None,
            params=params[i],
            trainable_params=trainable[i],
            macs=macs[i],
            flops=flops[i],
            inclusive_params=incl_params.get(d.path, 0),
            inclusive_trainable_params=incl_trainable.get(d.path, 0),
            inclusive_macs=incl_macs[i],
            inclusive_flops=incl_flops[i],
            input_bytes=sum(t.nbytes for t in d.inputs),
            output_bytes=sum(t.nbytes for t in d.outputs),
            param_bytes=incl_bytes.get(d.path, 0) if shows_all else (
                info.param_bytes if info else 0),
            is_leaf=is_leaf,
            folded=folded,
            recursive=d.recursive,
            called=d.called,
        ))
    inputs = [t for node in graph.nodes if node.kind == "input" for t in node.outputs]
    totals = graph.totals
    return Summary(
        model=drafts[0].class_name,
        layers=tuple(rows),
        total_params=totals.params,
        trainable_params=totals.trainable_params,
        total_macs=totals.macs,
        total_flops=totals.flops,
        input_bytes=sum(t.nbytes for t in inputs),
        forward_backward_bytes=forward_backward,
        param_bytes=totals.param_bytes,
        depth=depth,
        columns=cols,
        tracer=graph.get_meta("tracer"),
        notes=tuple(v for k, v in graph.meta if k == "note"),
        inputs=graph.get_meta("inputs"),
        inputs_source=graph.get_meta("inputs_source"),
    )


STATS_COLUMNS: tuple[str, ...] = (
    "module_name", "class_name", "input_shape", "output_shape", "params", "macs", "flops",
    "memory_read", "memory_written",
)
"""The columns of :func:`stats_frame` (memory in bytes)."""


def stats_rows(summary: Summary) -> list[dict[str, Any]]:
    """tensorwatch's ``model_stats`` rows: every leaf-module call, and any container
    call with work or parameters of its own (so the columns still sum to the totals).

    Build ``summary`` with ``depth=None``. Memory read is the call's input activations
    and parameters, memory written its outputs, in bytes.
    """
    out: list[dict[str, Any]] = []
    for r in summary.layers:
        if not ((r.is_leaf and r.called) or r.params or r.macs or r.flops):
            continue
        out.append({
            "module_name": r.module_path or r.class_name,
            "class_name": r.class_name,
            "input_shape": r.input_shape,
            "output_shape": r.output_shape,
            "params": r.params,
            "macs": r.macs,
            "flops": r.flops,
            "memory_read": r.input_bytes + r.param_bytes,
            "memory_written": r.output_bytes,
        })
    return out


def stats_frame(summary: Summary) -> Any:
    """:func:`stats_rows` as a ``pandas.DataFrame``."""
    pd = require_pandas("model_stats()")
    return pd.DataFrame(stats_rows(summary), columns=list(STATS_COLUMNS))
