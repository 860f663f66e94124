"""Load saved models without running code from them.

Three kinds of file hold a model:

``.pt2`` (``torch.export.save``)
    A zip archive. ``torch.export.load`` would unpickle several of its members with
    Python's full unpickler (the example inputs when they are not plain tensors, every
    payload marked ``use_pickle``, opaque objects), load the native libraries under
    ``data/aotinductor/``, ``sympify`` (``eval``) the shape expressions of the program,
    ``exec`` its guard code, import modules named in its output specs, and call whatever
    its graph nodes name when the program runs. So drawnet never hands the file to torch.
    It reads only the members a program needs (an allow-list, below), checks each one,
    and gives ``torch.export.load`` a new in-memory archive built from them:

    ====================================  ==============================================
    ``archive_format``, ``archive_version``  must read ``pt2`` and ``0``
    ``.data/version``, ``byteorder``      a few bytes of text
    ``models/model.json``                  the program: every node's operator must be a
                                           registered torch operator (``torch.ops.*``)
                                           or one of a few symbolic-size functions;
                                           every shape expression must use only
                                           numbers, size symbols, arithmetic and the
                                           functions torch writes; output specs are
                                           rebuilt from tuples, lists and dicts (names
                                           kept); guard code and node metadata other
                                           than module paths and stack traces dropped
    ``data/sample_inputs/model.pt``        a ``torch.save`` archive of tensors: its
                                           pickle must use protocol 2 or later and
                                           refer only to tensor-rebuilding functions
                                           (checked opcode by opcode, then loaded with
                                           ``weights_only=True``)
    ``data/weights|constants/…config.json``  every entry a raw tensor (no
                                           ``use_pickle``, custom or opaque object)
    ====================================  ==============================================

    Weight and constant payloads are not read at all: the program gets tensors of the
    right shape, dtype and aliasing whose memory is never touched (drawing needs shapes,
    not values), so a 10 GB program loads in about a second and in little memory. Any
    member torch would unpickle or load as native code (``data/aotinductor/``,
    ``custom_obj_*``, ``opaque_obj_*``, ``use_pickle`` payloads, a sample-input file
    that is not a plain tensor archive) makes the file refused with
    :class:`~drawnet.errors.UnsafeFileError` unless ``trust_pickle`` is given; members
    torch would not read (``extra/``) are ignored. With ``trust_pickle``, pickled
    payloads are passed to torch as they are; native libraries are still never loaded
    (they are not needed to draw the program).

TorchScript archives (``torch.jit.save``)
    ``torch.jit.load``, which runs no Python code (its unpickler is restricted to
    TorchScript types); drawnet then explains that such modules cannot be traced.

``torch.save`` files
    Checked without unpickling (which class the pickle imports), then loaded with
    ``weights_only=True`` onto the meta device (no weight is read). A state dict or
    checkpoint is refused with a hint (drawing needs the model's code); a whole pickled
    ``nn.Module`` needs ``trust_pickle``.

Every zip archive is checked for size first: members that would inflate far beyond
their compressed size (zip bombs), sizes that disagree, and names that appear twice are
refused, and every member drawnet reads is streamed with a limit of its declared size.

Example:
    >>> import tempfile, torch, drawnet
    >>> from pathlib import Path
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d) / "net.pt2"
    ...     torch.export.save(torch.export.export(net, (torch.zeros(1, 4),)), path)
    ...     program = load_program(path)
    >>> [n.id for n in drawnet.draw_model(program).graph.nodes]  # stored example input
    ['input.input', '0', 'output']
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from drawnet.errors import DrawnetError, OptionError, UnsafeFileError
from drawnet.quiet import quiet_torch

__all__ = ["LoadError", "is_program", "load_program", "load_saved", "program_inputs"]


class LoadError(DrawnetError, ValueError):
    """A saved model file cannot be loaded: missing, damaged, or not a model."""


# -- limits ---------------------------------------------------------------------------------

_MAX_TEXT = 4096
"""Bytes of a small text member (``archive_format``, ``byteorder``...)."""
_MAX_PROGRAM = 512 << 20
"""Bytes of ``models/model.json`` (a 70 B Llama's program is about 30 MB)."""
_MAX_CONFIG = 128 << 20
"""Bytes of a weights or constants config."""
_MAX_SAMPLE_INPUTS = 256 << 20
"""Bytes of the stored example inputs (real tensors: they are loaded)."""
_MAX_PICKLE = 64 << 20
"""Bytes of one pickle inspected opcode by opcode."""
_MAX_RATIO = 100
"""Largest inflation of a compressed member above 1 MiB (torch itself never compresses)."""
_MAX_INFLATED = 1 << 30
"""Bytes all compressed members of one archive may inflate to, together."""
_CHUNK = 1 << 20


def _name(file: Path | str) -> str:
    return repr(str(file))


def _trust_hint() -> str:
    return ("pass --trust-pickle (trust_pickle=True in Python) only if you trust the file")


# -- zip archives, read with limits ----------------------------------------------------------


def _open_zip(fh: BinaryIO, file: Path | str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise LoadError(f"{_name(file)} is a damaged archive: {_cause(e)}") from e
    _check_sizes(archive, file)
    return archive


def _check_sizes(archive: zipfile.ZipFile, file: Path | str) -> None:
    """Refuse zip bombs, sizes that disagree, and names given twice."""
    seen: set[str] = set()
    inflated = 0
    for info in archive.infolist():
        if info.filename in seen:
            raise LoadError(
                f"{_name(file)} is a damaged archive: member {info.filename!r} appears twice"
            )
        seen.add(info.filename)
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise LoadError(
                    f"{_name(file)} is a damaged archive: member {info.filename!r} declares "
                    f"{info.file_size} bytes but stores {info.compress_size}"
                )
            continue
        inflated += info.file_size
        bomb = info.file_size > (1 << 20) and info.file_size > _MAX_RATIO * max(
            info.compress_size, 1)
        if bomb or inflated > _MAX_INFLATED:
            raise UnsafeFileError(
                f"{_name(file)} is refused: member {info.filename!r} would inflate "
                f"{info.compress_size:,} bytes to {info.file_size:,} (a zip bomb?)"
            )


def _read(archive: zipfile.ZipFile, name: str, limit: int, file: Path | str) -> bytes:
    """A member's bytes, streamed: never more than its declared size, nor ``limit``."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise LoadError(f"{_name(file)} has no member {name!r}") from None
    if info.file_size > limit:
        raise UnsafeFileError(
            f"{_name(file)} is refused: member {name!r} is {info.file_size:,} bytes, more "
            f"than the {limit:,} drawnet reads for it"
        )
    out = bytearray()
    try:
        with archive.open(info) as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > info.file_size:
                    raise UnsafeFileError(
                        f"{_name(file)} is refused: member {name!r} inflates past its "
                        f"declared {info.file_size:,} bytes"
                    )
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        if isinstance(e, DrawnetError):
            raise
        raise LoadError(f"{_name(file)} is a damaged archive ({name}): {_cause(e)}") from e
    if len(out) != info.file_size:
        raise LoadError(f"{_name(file)} is a damaged archive: member {name!r} is truncated")
    return bytes(out)


def _json(data: bytes, what: str, file: Path | str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise LoadError(f"{_name(file)}: {what} is not valid JSON: {_cause(e)}") from None


# -- pickles, read opcode by opcode ----------------------------------------------------------

_STORAGE = re.compile(r"torch\.[A-Z][A-Za-z0-9]*Storage")
_DTYPES = frozenset(
    f"torch.{n}" for n in (
        "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
        "uint8", "bool", "complex64", "complex128", "float", "double", "half", "long", "int",
    )
)
TENSOR_GLOBALS = frozenset({
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter", "collections.OrderedDict", "torch.Size",
    "torch.device", *_DTYPES,
})
"""What a ``torch.save`` of tensors, dicts, lists and plain values imports, and nothing
else: a pickle that names anything more is not loaded without ``trust_pickle``."""
_CODE_OPS = frozenset({"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1", "EXT2", "EXT4",
                       "PERSID"})
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                         "SHORT_BINSTRING", "BINSTRING", "STRING"})


def pickle_imports(data: bytes) -> list[str]:
    """Every ``module.name`` a pickle imports, read without unpickling it.

    Raises ``ValueError`` for what cannot be checked: no protocol header (protocols 0
    and 1, whose text opcodes can call anything), opcodes that build objects without a
    named class (``INST``, ``OBJ``, ``BUILD``, extension codes), a ``STACK_GLOBAL``
    whose names are not plain strings just before it, or trailing bytes.

    Example:
        >>> import pickle, collections
        >>> pickle_imports(pickle.dumps(collections.OrderedDict(a=1), protocol=2))
        ['collections.OrderedDict']
        >>> pickle_imports(b"cos\\nsystem\\n(S'echo hi'\\ntR.")
        Traceback (most recent call last):
        ...
        ValueError: not a pickle of protocol 2 or later
    """
    import pickletools

    found: list[str] = []
    last: list[tuple[str, Any]] = []
    end = 0
    try:
        for i, (op, arg, pos) in enumerate(pickletools.genops(data)):
            name = op.name
            if i == 0 and (name != "PROTO" or not isinstance(arg, int) or arg < 2):
                raise ValueError("not a pickle of protocol 2 or later")
            if name in _CODE_OPS:
                raise ValueError(f"the pickle uses {name}, which drawnet does not load")
            if name == "GLOBAL":
                found.append(_py3_name(*str(arg).split(" ", 1)))
            elif name == "STACK_GLOBAL":
                if len(last) < 2 or not all(n in _STRING_OPS for n, _ in last[-2:]):
                    raise ValueError("the pickle builds a class name drawnet cannot read")
                found.append(_py3_name(str(last[-2][1]), str(last[-1][1])))
            if name not in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT", "FRAME"):
                last = [*last[-1:], (name, arg)]
            end = (pos or 0) + 1
    except ValueError:
        raise
    except Exception as e:  # pickletools raises many kinds on damaged input
        raise ValueError(f"not a readable pickle: {_cause(e)}") from None
    if end != len(data):
        raise ValueError("bytes follow the pickle")
    return found


def _py3_name(module: str, name: str = "") -> str:
    """``module.name`` as Python 3 resolves it (protocol 2 writes ``__builtin__.exec``)."""
    import _compat_pickle

    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}"


def _unsafe_imports(names: list[str]) -> list[str]:
    return [n for n in names if n not in TENSOR_GLOBALS and not _STORAGE.fullmatch(n)]


def _vet_tensor_archive(data: bytes, what: str, file: Path | str) -> None:
    """``data`` must be a ``torch.save`` zip of tensors and plain values, checked by hand.

    Raises :class:`~drawnet.errors.UnsafeFileError` naming ``what`` otherwise.
    """
    def refuse(why: str) -> UnsafeFileError:
        return UnsafeFileError(
            f"{_name(file)} holds {what} that is not a plain tensor archive ({why}), and "
            f"loading it could run code: {_trust_hint()}"
        )

    if not data.startswith(b"PK\x03\x04"):
        kind = "a pickle" if data[:1] in (b"\x80", b"(", b"c", b"]", b"}") else "no zip"
        raise refuse(f"{kind}, not a torch.save zip archive")
    inner = _open_zip(io.BytesIO(data), f"{file}:{what}")
    pickles = [i for i in inner.infolist() if i.filename.endswith("data.pkl")]
    if len(pickles) != 1:
        raise refuse(f"{len(pickles)} data.pkl members")
    for info in inner.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            raise refuse(f"compressed member {info.filename!r}; torch.save stores all")
    body = _read(inner, pickles[0].filename, _MAX_PICKLE, f"{file}:{what}")
    try:
        unsafe = _unsafe_imports(pickle_imports(body))
    except ValueError as e:
        raise refuse(str(e)) from None
    if unsafe:
        raise refuse(f"it imports {unsafe[0]}")


# -- the program: operators, shape expressions, specs ----------------------------------------

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_OPS_TARGET = re.compile(rf"torch\.ops\.({_IDENT})\.({_IDENT})(?:\.({_IDENT}))?")
_OPERATORS = frozenset(
    f"_operator.{n}" for n in (
        "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos",
        "abs", "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "xor", "not_", "invert",
        "lshift", "rshift", "matmul",
    )
)
_FUNCTIONS = frozenset({
    "math.trunc", "math.ceil", "math.floor", "math.sqrt", "math.exp", "math.log",
    "math.log2", "math.isnan", "math.isinf", "math.sin", "math.cos", "math.tan",
    "torch.sym_int", "torch.sym_float", "torch.sym_ite", "torch.sym_max", "torch.sym_min",
    "torch.sym_not", "torch.sym_sqrt", "torch._sym_sqrt", "torch.sym_sum",
    "torch.sym_fresh_size", "torch._assert", "torch._check", "torch._check_is_size",
    *_OPERATORS,
})
"""Non-``torch.ops`` call targets torch.export writes: symbolic-size arithmetic."""

# Names a shape expression (torch's ``expr_str``, written as ``str()`` or ``srepr()`` of a
# sympy expression) may use: sympy classes and the functions torch registers for
# deserialisation, assumption keywords, and size symbols (s0, u3, zuf0...), bare or quoted.
_EXPR_FUNCTIONS = frozenset({
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "Max", "Min", "Abs", "Eq", "Ne",
    "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "Xor", "Piecewise", "ExprCondPair", "ITE",
    "floor", "ceiling", "sqrt", "oo", "zoo", "nan", "true", "false", "True", "False", "pi",
    "E", "Symbol", "Dummy", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Tuple",
    "Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan",
    "GreaterThan", "BooleanTrue", "BooleanFalse", "Infinity", "NegativeInfinity",
    "ComplexInfinity", "NaN", "One", "Zero", "NegativeOne", "Half",
    "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or", "BitwiseFn_bitwise_xor",
    "OpaqueUnaryFn_sqrt", "OpaqueUnaryFn_exp", "OpaqueUnaryFn_log", "OpaqueUnaryFn_cos",
    "OpaqueUnaryFn_sin", "OpaqueUnaryFn_tanh", "OpaqueUnaryFn_log2",
    # assumptions, as in Symbol('s0', positive=True, integer=True)
    "positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite",
    "infinite", "zero", "nonzero", "even", "odd", "rational", "commutative",
    "extended_real", "extended_positive", "extended_negative", "extended_nonnegative",
    "extended_nonpositive", "extended_nonzero", "prime", "composite", "precision",
})
_SYMBOL = re.compile(r"[a-z]{1,4}[0-9]+")
_EXPR_TOKEN = re.compile(
    r"\s+|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
    r"|'(?P<quoted>[a-z]{1,4}[0-9]+)'"
    r"|(?P<op>\*\*|//|<=|>=|==|!=|[-+*/%()<>,&|~^=])"
)
_MAX_EXPR = 100_000


def _check_expr(text: object) -> str | None:
    """Why ``text`` is not a plain size expression, or None if it is one."""
    if not isinstance(text, str):
        return "not a string"
    if len(text) > _MAX_EXPR:
        return "too long"
    pos = 0
    depth = 0
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if m is None:
            return f"unexpected {text[pos]!r}"
        name = m.group("name")
        if name is not None and name not in _EXPR_FUNCTIONS and not _SYMBOL.fullmatch(name):
            return f"unknown name {name!r}"
        op = m.group("op")
        depth += (op == "(") - (op == ")")
        if depth > 200:
            return "nested too deeply"
        pos = m.end()
    return None


def _check_target(target: object, resolve: dict[str, str | None]) -> str | None:
    """Why a node's call target is not allowed, or None (results cached in ``resolve``)."""
    if not isinstance(target, str):
        return "not a string"
    if target in resolve:
        return resolve[target]
    why: str | None = None
    m = _OPS_TARGET.fullmatch(target)
    if target in _FUNCTIONS:
        why = None
    elif m is None:
        why = "not a torch operator"
    else:
        why = _resolve_op(*m.groups())
    resolve[target] = why
    return why


def _resolve_op(namespace: str, op: str, overload: str | None) -> str | None:
    """Whether ``torch.ops.<namespace>.<op>[.<overload>]`` is a registered operator.

    Looked up the way torch would, but refusing names that are attributes of the lookup
    objects themselves (``torch.ops.load_library``, ``torch.ops.import_module``...).
    """
    import torch
    from torch._ops import HigherOrderOperator, OpOverload, OpOverloadPacket

    ops = torch.ops
    if hasattr(type(ops), namespace) or namespace.startswith("__"):
        return "not an operator namespace"
    try:
        space = getattr(ops, namespace)
        if hasattr(type(space), op):
            return "not an operator"
        packet = getattr(space, op)
    except (AttributeError, RuntimeError):
        return "not a registered operator (a custom operator library is not loaded)"
    if isinstance(packet, HigherOrderOperator):
        return None if overload is None else "not an operator"
    if not isinstance(packet, OpOverloadPacket):
        return "not an operator"
    if overload is None:
        return None
    try:
        resolved = getattr(packet, overload)
    except (AttributeError, RuntimeError):
        return "not a registered operator overload"
    return None if isinstance(resolved, OpOverload) else "not an operator"


_LEAF: dict[str, Any] = {"type": None, "context": None, "children_spec": []}
_KEPT_TYPES = ("builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict")


def _clean_spec(node: Any) -> dict[str, Any]:
    """A pytree spec rebuilt from tuples, lists and dicts only.

    torch looks the spec's type names up (and imports the modules of enum keys); an
    output type such as ``transformers...BaseModelOutput`` is only known once its
    library is imported. Types whose context lists one key per child become dicts (the
    output names are kept), any other type a tuple.
    """
    if not isinstance(node, dict):
        raise ValueError("a spec node is not an object")
    children = node.get("children_spec")
    kind = node.get("type")
    if kind is None:
        if children:
            raise ValueError("a leaf has children")
        return dict(_LEAF)
    if not isinstance(children, list) or not isinstance(kind, str):
        raise ValueError("a spec node has no children list")
    kids = [_clean_spec(c) for c in children]
    try:
        context = json.loads(node.get("context") or "null")
    except (TypeError, ValueError):
        context = None
    if isinstance(context, dict) and isinstance(context.get("dict_context"), list):
        context = context["dict_context"]  # defaultdict
    keys_ok = isinstance(context, list) and len(context) == len(kids) and all(
        isinstance(k, str | int | float | bool) or k is None for k in context)
    if kind in ("builtins.tuple", "builtins.list") or (kind not in _KEPT_TYPES and not keys_ok):
        kind, context = ("builtins.list" if kind == "builtins.list" else "builtins.tuple"), None
    elif keys_ok:
        kind = kind if kind in _KEPT_TYPES else "builtins.dict"
    else:
        raise ValueError(f"a {kind} spec has {len(kids)} children but no key for each")
    return {"type": kind, "context": json.dumps(context), "children_spec": kids}


def _clean_treespec(text: object) -> str:
    if not isinstance(text, str):
        raise ValueError("a spec is not a string")
    value = json.loads(text)
    if not (isinstance(value, list) and len(value) == 2 and value[0] == 1):
        raise ValueError("a spec has an unknown protocol")
    return json.dumps([1, _clean_spec(value[1])])


_KEPT_METADATA = ("stack_trace", "nn_module_stack")


def _vet_program(program: Any, file: Path | str, *, trusted: bool) -> dict[str, Any]:
    """Check ``models/model.json`` in place; raise :class:`UnsafeFileError` on what could run.

    With ``trusted``, only the rewrites are made (specs, guards, metadata), nothing is
    refused.
    """
    if not isinstance(program, dict) or "graph_module" not in program:
        raise LoadError(f"{_name(file)}: models/model.json does not hold a program")
    program["guards_code"] = []  # exec'd by ExportedProgram.module(); drawing never needs it
    resolve: dict[str, str | None] = {}

    def refuse(what: str, value: object, why: str) -> UnsafeFileError:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return UnsafeFileError(
            f"{_name(file)} is refused: its program calls {what} {shown} ({why}), which "
            f"drawnet does not run from a file: {_trust_hint()}"
        )

    stack: list[Any] = [program]
    while stack:
        obj = stack.pop()
        if isinstance(obj, list):
            stack.extend(x for x in obj if isinstance(x, dict | list))
            continue
        if not isinstance(obj, dict):
            continue
        if "target" in obj and "inputs" in obj and "outputs" in obj:
            why = _check_target(obj["target"], resolve)
            if why and not trusted:
                raise refuse("the operator", obj["target"], why)
            meta = obj.get("metadata")
            if isinstance(meta, dict):
                obj["metadata"] = {k: v for k, v in meta.items()
                                   if k in _KEPT_METADATA and isinstance(v, str)}
        for key, value in list(obj.items()):
            if key == "expr_str":
                why = _check_expr(value)
                if why and not trusted:
                    raise refuse("the shape expression", value, why)
            elif key == "as_operator":
                why = _check_target(value, resolve)
                if why and not trusted:
                    raise refuse("the operator", value, why)
            elif key in ("in_spec", "out_spec") and value is not None:
                try:
                    obj[key] = _clean_treespec(value)
                except (ValueError, RecursionError) as e:
                    raise LoadError(f"{_name(file)}: a module spec is damaged: {e}") from None
            elif isinstance(value, dict | list):
                stack.append(value)
    return program


# -- .pt2 archives ---------------------------------------------------------------------------


@dataclass
class _Payloads:
    """What a weights or constants config says about the tensors it lists."""

    config: dict[str, Any]
    real: dict[str, str] = field(default_factory=dict)
    """fqn -> original device, for payloads drawnet replaces by untouched memory."""
    groups: dict[str, list[str]] = field(default_factory=dict)
    """path name -> the fqns that view it (aliases share one storage)."""


def _vet_payloads(
    config: Any, folder: str, kind: str, names: set[str], file: Path | str, *, trusted: bool
) -> tuple[_Payloads, list[str]]:
    """Check a weights/constants config; return it rewritten and the members to copy as is.

    Raw tensors are redirected to the meta device with an empty record (never read);
    anything torch would unpickle is refused unless ``trusted``, then copied verbatim.
    """
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise LoadError(f"{_name(file)}: the {kind} config is damaged")
    out = _Payloads(config=config)
    verbatim: list[str] = []
    for fqn, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("path_name"), str):
            raise LoadError(f"{_name(file)}: the {kind} config entry {fqn!r} is damaged")
        path_name = entry["path_name"]
        if "/" in path_name or path_name in (".", ".."):
            raise LoadError(f"{_name(file)}: the {kind} config names {path_name!r}")
        member = f"{folder}{path_name}"
        meta = entry.get("tensor_meta")
        if (entry.get("use_pickle") is False and isinstance(meta, dict)
                and path_name.startswith(("weight_", "tensor_"))):
            device = meta.get("device")
            dev = device.get("type") if isinstance(device, dict) else None
            out.real[fqn] = dev if dev == "cpu" else "meta"
            meta["device"] = {"type": "meta", "index": None}
            out.groups.setdefault(path_name, []).append(fqn)
            continue
        what = ("an opaque Python object" if path_name.startswith("opaque_obj_")
                else "a TorchScript custom object" if path_name.startswith("custom_obj_")
                else "a pickled tensor")
        if not trusted:
            raise UnsafeFileError(
                f"{_name(file)} holds {what} ({fqn!r} in {member}), and loading it can run "
                f"arbitrary code: {_trust_hint()}"
            )
        if member not in names:
            raise LoadError(f"{_name(file)} has no member {member!r} for {fqn!r}")
        verbatim.append(member)
    return out, verbatim


def _sanitized_pt2(
    archive: zipfile.ZipFile, file: Path | str, *, trusted: bool
) -> tuple[io.BytesIO, list[_Payloads]]:
    """A new in-memory ``.pt2`` holding only the checked members of ``archive``."""
    from torch.export.pt2_archive import constants as c

    names = set(archive.namelist())
    first = archive.namelist()[0] if names else ""
    root = first.split("/", 1)[0]
    if not root or "/" not in first:
        raise LoadError(f"{_name(file)} is not a torch.export archive (no archive folder)")
    prefix = f"{root}/"

    def member(rel: str) -> str:
        return prefix + rel

    fmt = member(c.ARCHIVE_FORMAT_PATH)
    if fmt not in names or _read(archive, fmt, _MAX_TEXT, file).strip() != b"pt2":
        raise LoadError(f"{_name(file)} is not a torch.export archive (no archive_format)")
    if not trusted:
        native = sorted(n for n in names if n.startswith(member(c.AOTINDUCTOR_DIR))
                        and not n.endswith("/"))
        if native:
            shown = next((n for n in native if n.endswith((".so", ".dll", ".dylib"))),
                         native[0])
            raise UnsafeFileError(
                f"{_name(file)} holds compiled native code ({shown.removeprefix(prefix)}), "
                f"which loading would run: {_trust_hint()}"
            )
    model = member(c.MODELS_FILENAME_FORMAT.format("model"))
    if model not in names:
        raise LoadError(
            f"{_name(file)} holds no torch.export program (no models/model.json): an "
            "AOTInductor package holds compiled code only; save the program with "
            "torch.export.save"
        )
    out = io.BytesIO()
    payloads: list[_Payloads] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as new:

        def put(rel: str, data: bytes) -> None:
            new.writestr(zipfile.ZipInfo(member(rel)), data)

        for rel in (c.ARCHIVE_FORMAT_PATH, c.ARCHIVE_VERSION_PATH, ".data/version",
                    "byteorder"):
            if member(rel) in names:
                put(rel, _read(archive, member(rel), _MAX_TEXT, file))
        for folder, config_name, kind in (
            (c.WEIGHTS_DIR, c.WEIGHTS_CONFIG_FILENAME_FORMAT.format("model"), "weights"),
            (c.CONSTANTS_DIR, c.CONSTANTS_CONFIG_FILENAME_FORMAT.format("model"), "constants"),
        ):
            if member(config_name) not in names:
                raise LoadError(
                    f"{_name(file)} has no {config_name}: it was saved by an older torch; "
                    "export and save it again with this one"
                )
            config = _json(_read(archive, member(config_name), _MAX_CONFIG, file),
                           config_name, file)
            vetted, verbatim = _vet_payloads(config, member(folder), kind, names, file,
                                             trusted=trusted)
            payloads.append(vetted)
            put(config_name, json.dumps(vetted.config).encode())
            for path_name in vetted.groups:
                put(folder + path_name, b"")  # never read: see _materialize
            for name in verbatim:
                put(name.removeprefix(prefix), _read(archive, name, _MAX_SAMPLE_INPUTS, file))
        inputs_name = c.SAMPLE_INPUTS_FILENAME_FORMAT.format("model")
        if member(inputs_name) in names:
            data = _read(archive, member(inputs_name), _MAX_SAMPLE_INPUTS, file)
            if data and not trusted:
                _vet_tensor_archive(data, f"example inputs ({inputs_name})", file)
                _check_loads(data, f"example inputs ({inputs_name})", file)
            put(inputs_name, data)
        program = _json(_read(archive, model, _MAX_PROGRAM, file), "models/model.json", file)
        put(c.MODELS_FILENAME_FORMAT.format("model"),
            json.dumps(_vet_program(program, file, trusted=trusted)).encode())
    out.seek(0)
    return out, payloads


def _check_loads(data: bytes, what: str, file: Path | str) -> None:
    """torch's own safe loader must accept ``data`` too (it is what torch tries first)."""
    import torch

    try:
        torch.load(io.BytesIO(data), map_location="meta", weights_only=True)
    except Exception as e:
        raise UnsafeFileError(
            f"{_name(file)} holds {what} that torch's safe loader refuses "
            f"({_cause(e)}): {_trust_hint()}"
        ) from None


def _materialize(program: Any, payloads: list[_Payloads]) -> None:
    """Give the tensors left on ``meta`` by the sanitised archive CPU memory, untouched.

    ``torch.empty`` reserves memory without writing it, so the pages are never committed
    (a 10 GB program costs no RAM); views of one payload share one storage, as torch
    would load them. Values are undefined: nothing in drawnet reads them.
    """
    import torch

    tables = (program.state_dict, program.constants)
    for vetted, table in zip(payloads, tables, strict=True):
        for fqns in vetted.groups.values():
            metas = [(fqn, table.get(fqn)) for fqn in fqns]
            tensors = [(f, t) for f, t in metas if isinstance(t, torch.Tensor)]
            if not tensors or any(vetted.real.get(f) != "cpu" for f, _ in tensors):
                continue
            extent = 0
            for _, t in tensors:
                if t.numel():
                    last = int(t.storage_offset()) + sum(
                        (int(s) - 1) * int(st) for s, st in zip(t.shape, t.stride(), strict=True))
                    extent = max(extent, last + 1)
            try:
                base = torch.empty(extent, dtype=tensors[0][1].dtype)
            except RuntimeError:  # more address space than this machine gives: stay on meta
                continue
            for fqn, t in tensors:
                view = torch.as_strided(base, t.shape, t.stride(), t.storage_offset())
                if isinstance(t, torch.nn.Parameter):
                    view = torch.nn.Parameter(view, requires_grad=t.requires_grad)
                table[fqn] = view


def load_program(path: str | os.PathLike[str], *, trust_pickle: bool = False) -> Any:
    """Load a ``torch.export`` program (``.pt2``) for drawing, running no code from it.

    Returns a ``torch.export.ExportedProgram`` that :func:`drawnet.draw_model`,
    :func:`drawnet.summary` and :func:`drawnet.model_stats` take in place of a model;
    called without inputs they use the example inputs stored in the file. Weights are
    not read: they have their shapes, dtypes and aliasing but undefined values, so load
    with ``torch.export.load`` to run the program. See the module docstring for the
    checks; :class:`~drawnet.errors.UnsafeFileError` (a ``ValueError``) says what was
    refused, :class:`LoadError` what is missing or damaged.

    Example:
        >>> load_program("no/such.pt2")
        Traceback (most recent call last):
        ...
        drawnet.loaders.LoadError: no such file: 'no/such.pt2'
    """
    file = Path(path)
    _check_file(file)
    import torch

    with open(file, "rb") as fh:
        if fh.read(4) != _ZIP_MAGIC:
            raise LoadError(f"{_name(file)} is not a torch.export archive (not a zip file)")
        fh.seek(0)
        with _open_zip(fh, file) as archive:
            data, payloads = _sanitized_pt2(archive, file, trusted=trust_pickle)
    try:
        with quiet_torch():
            program = torch.export.load(data)
    except (DrawnetError, KeyboardInterrupt):
        raise
    except Exception as e:
        raise LoadError(
            f"cannot load {_name(file)} as a torch.export program: {_cause(e)}"
        ) from e
    _materialize(program, payloads)
    return program


# -- programs as models ----------------------------------------------------------------------


def is_program(obj: object) -> bool:
    """Whether ``obj`` is a ``torch.export.ExportedProgram`` (without importing torch).

    Example:
        >>> is_program(object())
        False
    """
    return any(c.__name__ == "ExportedProgram" and c.__module__.startswith("torch.export")
               for c in type(obj).__mro__)


def program_inputs(
    program: Any,
    input_size: Any,
    input_data: Any,
    kwargs: Mapping[str, Any] | None,
    mode: str,
) -> tuple[Any, Any, Mapping[str, Any] | None, str]:
    """The module to trace for an ``ExportedProgram``, with its inputs and mode.

    The program is unflattened back into its module tree with class names; without
    ``input_size`` and ``input_data`` its stored example inputs are used (``kwargs``
    add to or replace its keyword inputs). A program keeps the train/eval mode it was
    exported in, so ``mode="train"`` is an :class:`~drawnet.errors.OptionError`.
    """
    if mode == "train":
        raise OptionError(
            "a torch.export program keeps the train/eval mode it was exported in: drop "
            "mode='train' (--mode train), or export the model in train mode"
        )
    module = _unflatten(program)
    if input_size is None and input_data is None:
        stored = program.example_inputs
        if not stored:
            raise OptionError(
                "this torch.export program stores no example inputs: give input sizes "
                "(--input 1,3,224,224, or input_size=)"
            )
        args, kw = stored
        input_data = tuple(args)
        kwargs = {**kw, **(kwargs or {})}
    return module, input_data, kwargs, "same"


def _unflatten(program: Any) -> Any:
    """A loaded ``torch.export`` program as a module tree again, with its class names.

    ``torch.export.unflatten`` restores the module paths (``layer1.0.conv1``); its
    submodules are all ``InterpreterModule``, so each gets a subclass named after the
    original class recorded in the graph's ``nn_module_stack`` (this is drawnet's own
    copy of the program, not a user's object).
    """
    import torch

    with quiet_torch():
        module = torch.export.unflatten(program)
    classes: dict[str, str] = {}
    for node in program.graph.nodes:
        for entry in (node.meta.get("nn_module_stack") or {}).values():
            path, cls = entry[0], entry[1]
            name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
            classes.setdefault(str(path), name.rsplit(".", 1)[-1])
    made: dict[tuple[type, str], type] = {}
    for path, sub in module.named_modules():
        name = classes.get(path)
        if name and name.isidentifier() and type(sub).__name__ != name:
            key = (type(sub), name)
            if key not in made:
                made[key] = type(name, (type(sub),), {})
            sub.__class__ = made[key]
    _name_arguments(module, program)
    return module


def _name_arguments(module: Any, program: Any) -> None:
    """Give the root's ``forward(*args, **kwargs)`` the original parameter names, so
    inputs are drawn as ``input.x`` rather than ``input.input0``."""
    import inspect

    signature = program.module_call_graph[0].signature if program.module_call_graph else None
    names = list(getattr(signature, "forward_arg_names", None) or [])
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        return
    base = type(module)

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        return base.forward(self, *args, **kwargs)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    forward.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    module.__class__ = type(base.__name__, (base,), {"forward": forward})


# -- saved files of any kind -----------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"


def _check_file(file: Path) -> None:
    if not file.exists():
        raise LoadError(f"no such file: {_name(file)}")
    if not file.is_file():
        raise LoadError(f"{_name(file)} is not a file")


def load_saved(file: Path, *, trust_pickle: bool = False) -> Any:
    """Load a saved model (see the module docstring) without running code from it.

    Returns an ``ExportedProgram`` for a ``.pt2`` archive, else an ``nn.Module``.
    Raises :class:`LoadError` (missing, damaged, weights only) or
    :class:`~drawnet.errors.UnsafeFileError` (would run code; ``trust_pickle`` allows
    pickled modules and pickled ``.pt2`` payloads).

    Example:
        >>> load_saved(Path("no/such.pt"))
        Traceback (most recent call last):
        ...
        drawnet.loaders.LoadError: no such file: 'no/such.pt'
    """
    _check_file(file)
    with open(file, "rb") as fh:
        head = fh.read(4)
        if not head:
            raise LoadError(f"{_name(file)} is empty")
        names: list[str] = []
        if head == _ZIP_MAGIC:
            fh.seek(0)
            with _open_zip(fh, file) as archive:
                names = archive.namelist()
                pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
                data = _read(archive, pickles[0], _MAX_PICKLE, file) if pickles else b""
    is_pt2 = file.suffix.lower() == ".pt2" or any(
        n.count("/") == 1 and n.endswith("/archive_format") for n in names)
    if is_pt2:
        return load_program(file, trust_pickle=trust_pickle)
    if any(n.endswith("/constants.pkl") for n in names):
        return _load_torchscript(file)
    if not names:
        with open(file, "rb") as fh:
            data = fh.read(1 << 20)
        if data[:1] != b"\x80":
            raise LoadError(
                f"cannot load {_name(file)}: not a TorchScript, torch.export or torch.save file"
            )
    elif not data:
        raise LoadError(
            f"cannot load {_name(file)}: not a TorchScript, torch.export or torch.save file"
        )
    return _load_pickled(file, data, zipped=bool(names), trust_pickle=trust_pickle)


def _load_torchscript(file: Path) -> Any:
    import torch

    try:
        with quiet_torch():
            return torch.jit.load(str(file), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as e:
        raise LoadError(
            f"cannot load {_name(file)} as a TorchScript archive: {_cause(e)}"
        ) from e


# Globals a plain torch.save of tensors and dicts refers to: not worth naming.
_PLAIN_PREFIXES = ("torch._utils.", "torch.serialization.", "collections.OrderedDict",
                   "torch.Size", "torch._tensor.", "torch.nn.parameter.Parameter")


def _pickled_class(data: bytes) -> str:
    """The first class or function a ``torch.save`` pickle imports beyond tensors, or ``""``.

    Reads up to four pickles one after another (the legacy format writes a magic number,
    the protocol and system info before the object itself).
    """
    start = 0
    for _ in range(4):
        chunk = data[start:]
        names, end = _prefix_imports(chunk)
        for name in names:
            if not name.startswith(_PLAIN_PREFIXES) and not name.endswith("Storage"):
                return name
        if end <= 0 or start + end >= len(data) or data[start + end:start + end + 1] != b"\x80":
            break
        start += end
    return ""


def _prefix_imports(data: bytes) -> tuple[list[str], int]:
    """Imports of the pickle at the start of ``data`` and where it ends (0: unreadable)."""
    import pickletools

    found: list[str] = []
    strings: list[str] = []
    end = 0
    try:
        for op, arg, pos in pickletools.genops(data):
            end = (pos or 0) + 1
            if op.name == "GLOBAL" and isinstance(arg, str):
                found.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str) and "UNICODE" in op.name:
                strings.append(arg)
            if op.name == "STOP":
                return found, end
    except Exception:
        return found, 0
    return found, end


def _load_pickled(file: Path, data: bytes, *, zipped: bool, trust_pickle: bool) -> Any:
    import pickle

    import torch

    what = _pickled_class(data)
    try:
        with quiet_torch():
            obj = torch.load(str(file), map_location="meta", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as e:
        if not trust_pickle:
            held = f"a pickled {what}" if what else "pickled Python objects"
            raise UnsafeFileError(
                f"{_name(file)} holds {held}, and unpickling can run arbitrary code: "
                f"{_trust_hint()}, or save the program with torch.export.save, or name the "
                "model's factory (package.module:factory)"
            ) from e
        try:
            with quiet_torch():
                obj = torch.load(str(file), map_location="cpu", weights_only=False)
        except Exception as e2:
            hint = ""
            if isinstance(e2, AttributeError | ImportError):
                hint = " (the model's class must be importable: run from its project folder)"
            raise LoadError(f"cannot unpickle {_name(file)}: {_cause(e2)}{hint}") from e2
    except Exception as e:
        raise LoadError(f"cannot load {_name(file)}: {_cause(e)}") from e
    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, Mapping):
        tensors = sum(1 for v in obj.values() if isinstance(v, torch.Tensor))
        held = (f"a state dict ({tensors} tensors)" if tensors == len(obj) and tensors
                else "a dict (a checkpoint or state dict: keys "
                     + ", ".join(repr(str(k)) for k in list(obj)[:4])
                     + (", ..." if len(obj) > 4 else "") + ")")
        raise LoadError(
            f"{_name(file)} holds {held}, not a model: weights need the model's code; "
            "name the model's factory instead (package.module:factory or file.py:factory)"
        )
    raise LoadError(f"{_name(file)} holds a {type(obj).__name__}, not a torch.nn.Module")


def _cause(e: BaseException) -> str:
    """``Type: first line`` of an exception, for one-line messages."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__
