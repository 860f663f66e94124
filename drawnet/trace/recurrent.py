"""Recurrences on meta in time independent of sequence length.

``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` call one fused op (``torch.lstm``, ``torch.gru``,
``torch.rnn_tanh``, ``torch.rnn_relu``) whose meta kernel is a Python loop over time
steps and layers: an ``nn.LSTM(300, 512, 2)`` over 200 steps took 1.3 s on meta against
0.17 s for a real run. The output shapes are plain arithmetic, so the meta tracer
answers these ops here in microseconds; their cost is still counted by the module rules
of :mod:`drawnet.stats` (per time step, layer and direction, from the input's shape), so
the counts are exactly what they were. The cells (``lstm_cell``, ``gru_cell``,
``rnn_tanh_cell``, ``rnn_relu_cell``) get the same treatment, so a Python loop over an
``nn.LSTMCell`` costs one hook call per step and no meta kernel.

Every rule checks what the real kernel checks about shapes and dtypes (input size
against the weights, hidden state against batch and layers) and returns None when
anything is unusual, so torch's own kernel runs and raises its own error.

Example:
    >>> import torch
    >>> x = torch.empty(200, 1, 300, device="meta")
    >>> lstm = torch.nn.LSTM(300, 512, 2, device="meta")
    >>> h = torch.empty(2, 1, 512, device="meta")
    >>> out = RULES["lstm"](torch, (x, (h, h), lstm._flat_weights, True, 2, 0.0, False,
    ...                              False, False), {})
    >>> [tuple(t.shape) for t in out]
    [(200, 1, 512), (2, 1, 512), (2, 1, 512)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _meta_tensors(torch: Any, *ts: Any) -> bool:
    return all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in ts)


def _per_layer(has_biases: bool, proj: bool) -> int:
    """Tensors per layer and direction in the flat weight list."""
    return 2 + (2 if has_biases else 0) + (1 if proj else 0)


def _sequence(kind: str) -> Callable[[Any, Any, dict[str, Any]], Any]:
    gates = _GATES[kind]

    def rule(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        if kwargs or len(args) != 9:
            return None
        packed = isinstance(args[3], list | tuple)  # (data, batch_sizes, hx, params, ...)
        if packed:
            x, _sizes, hx, params, has_biases, layers, _p, _train, bidir = args
            batch_first = False
        else:
            x, hx, params, has_biases, layers, _p, _train, bidir, batch_first = args
        states = list(hx) if isinstance(hx, tuple | list) else [hx]
        if len(states) != (2 if kind == "lstm" else 1) or not isinstance(params, list | tuple):
            return None
        if not _meta_tensors(torch, x, *states, *params) or not isinstance(layers, int):
            return None
        if x.dim() != (2 if packed else 3):
            return None
        h = states[0]
        directions = 2 if bidir else 1
        hidden = int(params[0].shape[0]) // gates if params and params[0].dim() == 2 else 0
        h_out = int(h.shape[-1]) if h.dim() == 3 else 0
        proj = kind == "lstm" and h_out != hidden
        per = _per_layer(bool(has_biases), proj)
        if hidden <= 0 or len(params) != per * layers * directions or h.dim() != 3:
            return None
        batch = int(x.shape[0 if batch_first else 1]) if not packed else int(h.shape[1])
        if tuple(h.shape) != (layers * directions, batch, h_out):
            return None
        if kind == "lstm" and tuple(states[1].shape) != (layers * directions, batch, hidden):
            return None
        in_size = int(x.shape[-1])
        for i, w in enumerate(params):
            if w.dtype != x.dtype or any(s.dtype != x.dtype for s in states):
                return None
            layer, slot = divmod(i, per)
            layer //= directions
            expect_in = in_size if layer == 0 else directions * h_out
            if slot == 0 and tuple(w.shape) != (gates * hidden, expect_in):
                return None
            if slot == 1 and tuple(w.shape) != (gates * hidden, h_out):
                return None
        out_shape = (*x.shape[:-1], directions * h_out)
        out = torch.empty(out_shape, dtype=x.dtype, device="meta")
        hn = torch.empty(tuple(h.shape), dtype=h.dtype, device="meta")
        if kind == "lstm":
            cn = torch.empty(tuple(states[1].shape), dtype=h.dtype, device="meta")
            return out, hn, cn
        return out, hn

    return rule


def _cell(kind: str) -> Callable[[Any, Any, dict[str, Any]], Any]:
    gates = _GATES[kind]

    def rule(torch: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        if kwargs or len(args) not in (4, 6):
            return None
        x, hx, w_ih, w_hh = args[:4]
        biases = [b for b in args[4:] if b is not None]
        states = list(hx) if isinstance(hx, tuple | list) else [hx]
        if len(states) != (2 if kind == "lstm" else 1):
            return None
        if not _meta_tensors(torch, x, w_ih, w_hh, *states, *biases) or x.dim() not in (1, 2):
            return None
        hidden = int(w_hh.shape[1]) if w_hh.dim() == 2 else 0
        if hidden <= 0 or tuple(w_ih.shape) != (gates * hidden, x.shape[-1]) \
                or tuple(w_hh.shape) != (gates * hidden, hidden):
            return None
        if any(tuple(b.shape) != (gates * hidden,) for b in biases):
            return None
        expect = (*x.shape[:-1], hidden)
        if any(tuple(s.shape) != expect or s.dtype != x.dtype for s in states) or \
                w_ih.dtype != x.dtype:
            return None
        outs = tuple(torch.empty(expect, dtype=x.dtype, device="meta") for _ in states)
        return outs if kind == "lstm" else outs[0]

    return rule


RULES: dict[str, Callable[[Any, Any, dict[str, Any]], Any]] = {
    **{k: _sequence(k) for k in _GATES},
    **{f"{k}_cell": _cell(k) for k in _GATES},
}
"""Op name -> rule ``(torch, args, kwargs) -> meta result or None``."""
