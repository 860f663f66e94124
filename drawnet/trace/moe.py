"""Mixture-of-experts layers: the grouped expert product on meta, and the counting note.

transformers runs its experts (``MixtralExperts``, ``Qwen2MoeExperts``...) by default with
``torch._grouped_mm``: the tokens, sorted by expert, go through every expert's weights in
one call, ``offs`` marking where each expert's rows end. Its meta kernel carries the
CUDA-only check "Expected mat_a to be BFloat16 or supported Float16", so a float32 model
stopped the meta trace although a real CPU run works. :data:`RULES` answers the op from
shapes with the checks a CPU run makes, and :mod:`drawnet.stats` counts it for the rows
routed (``tokens × top_k``), as a real run computes them: which expert gets which token
does not change the total.

Example:
    >>> import torch
    >>> x = torch.empty(64, 32, device="meta")          # 32 tokens × top-2, 32 features
    >>> w = torch.empty(4, 32, 128, device="meta")      # 4 experts, 32 -> 128
    >>> offs = torch.empty(4, dtype=torch.int32, device="meta")
    >>> tuple(RULES["_grouped_mm"](torch, (x, w), {"offs": offs}).shape)
    (64, 128)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from drawnet import ir

_EXPERTS = re.compile(r"Expert|MoE|Moe|SparseMLP")
NOTE = ("mixture of experts: expert MACs count each token once for each expert it is routed "
        "to (its top-k), as a real run computes them, not once per expert")


def _grouped_mm(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """``torch._grouped_mm(a, b, offs=None, bias=None, out_dtype=None)`` on meta tensors."""
    if len(args) != 2 or set(kwargs) - {"offs", "bias", "out_dtype"}:
        return None
    a, b = args
    offs: Any = kwargs.get("offs")
    if not all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in (a, b)):
        return None
    if kwargs.get("bias") is not None or a.dtype != b.dtype or a.dim() not in (2, 3) \
            or b.dim() not in (2, 3):
        return None
    out_dtype = kwargs.get("out_dtype") or a.dtype
    if out_dtype != a.dtype:
        return None
    if a.dim() == 2 or b.dim() == 2:
        if not isinstance(offs, torch.Tensor) or offs.dim() != 1 or offs.dtype != torch.int32:
            return None
    elif offs is not None:
        return None
    if (a.dim() == 3 or b.dim() == 3) and a.shape[-1] != b.shape[-2]:
        return None
    if a.dim() == 2 and b.dim() == 2:
        if a.shape[1] != b.shape[0]:
            return None
        shape: tuple[int, ...] = (int(offs.shape[0]), int(a.shape[0]), int(b.shape[1]))
    elif a.dim() == 2:
        if offs.shape[0] != b.shape[0]:
            return None
        shape = (int(a.shape[0]), int(b.shape[-1]))
    elif b.dim() == 2:
        if offs.shape[0] != a.shape[0]:
            return None
        shape = (int(a.shape[1]), int(b.shape[1]))
    else:
        if a.shape[0] != b.shape[0]:
            return None
        shape = (int(a.shape[0]), int(a.shape[1]), int(b.shape[-1]))
    return torch.empty(shape, dtype=out_dtype, device="meta")


RULES: dict[str, Callable[[Any, Any, dict[str, Any]], Any]] = {
    "_grouped_mm": _grouped_mm, "grouped_mm": _grouped_mm,
}
"""Op name -> rule ``(torch, args, kwargs) -> meta result or None``."""


def notes(graph: ir.Graph) -> tuple[tuple[str, str], ...]:
    """``graph.meta`` facts for a model with mixture-of-experts layers: how they count.

    A model has such layers when it runs a grouped expert product or has modules named
    like experts (``MixtralExperts``, ``Qwen2MoeSparseMoeBlock``,
    ``SwitchTransformersSparseMLP``).

    Example:
        >>> g = ir.Graph(nodes=(), edges=(), modules=(
        ...     ir.ModuleInfo(path="mlp.experts", class_name="MixtralExperts"),))
        >>> notes(g)[0][1].split(":")[0]
        'mixture of experts'
    """
    moe = any(_EXPERTS.search(m.class_name) for m in graph.modules) or any(
        n.op in ("grouped_mm", "scaled_grouped_mm") for n in graph.nodes)
    if not moe or any(v == NOTE for _, v in graph.meta):
        return ()
    return (("note", NOTE),)
