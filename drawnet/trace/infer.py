"""Inputs for a model given none: read from what the model says about itself.

``draw_model(model)`` and ``summary(model)`` without ``input_size`` or ``input_data``
come here. What is read, by kind of model:

- **transformers** (any ``PreTrainedModel``): the inputs ``forward`` needs, named as it
  names them. The main input (``model.main_input_name``) and every parameter without a
  default; the decoder's ids for an encoder-decoder; and, for a model that takes several
  modalities, each of them (CLIP gets ``input_ids`` and ``pixel_values``). Sizes come
  from the config, with the sub-config of each modality (``text_config``,
  ``vision_config``, ``audio_config``): token ids are ``1×seq_len`` (``seq_len`` = 128, or
  the model's position limit when that is smaller, such as CLIP's 77); images
  ``1×channels×image_size×image_size`` (224 when the config names no size); video
  ``1×num_frames×3×H×W``; raw audio one second at the config's ``sampling_rate``
  (16 kHz when it has none); log-mel features the window the encoder expects (Whisper:
  its 30 s, ``2 × max_source_positions`` frames) or one second of 10 ms frames.
- **timm** models: one image at ``pretrained_cfg['input_size']``.

A generative vision- or audio-language model (LLaVA, Qwen2-VL, Gemma 3...) splices image
features into the text at placeholder tokens, which a no-compute trace cannot place: it
is tried with every modality first, then drawn from ``input_ids`` alone, with a note. For
any other model, :func:`infer_inputs` raises an :class:`~drawnet.errors.InputError`
that says what to pass, read from ``forward``'s parameters and the first layer.

Values, for tracers that run the model for real: token ids are one ordinary token (none
of the config's special or placeholder ids), masks are ones, floats come from a private
generator seeded with 0. Float inputs take the model's own floating dtype (a bfloat16
model gets bfloat16 pixels).

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertModel
    >>> with torch.device("meta"):
    ...     bert = BertModel(BertConfig(num_hidden_layers=1))
    >>> infer_inputs(bert).guesses[0].describe()
    'input_ids 1×128 int64'
    >>> infer_inputs(bert, seq_len=16).guesses[0].describe()
    'input_ids 1×16 int64'
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drawnet import ir
from drawnet.errors import DrawnetError, InputError, OptionError, TraceError

DEFAULT_SEQ_LEN = 128
"""Token ids per sequence when neither ``seq_len`` nor a smaller position limit says."""
DEFAULT_IMAGE_SIZE = 224
DEFAULT_SAMPLING_RATE = 16_000
AUDIO_SECONDS = 1
FRAMES_PER_SECOND = 100  # log-mel features with the usual 10 ms hop

_MODALITIES = ("input_ids", "pixel_values", "pixel_values_videos", "input_features",
               "input_values")
"""Inputs that carry one modality each: a model with several gets all it takes."""

_POSITION_LIMITS = ("max_position_embeddings", "n_positions", "max_seq_len",
                    "max_sequence_length", "n_ctx", "max_text_len", "max_len",
                    "max_length_text", "block_size", "seq_length")
_DECODER_LIMITS = ("max_target_positions", "max_decoder_position_embeddings",
                   *_POSITION_LIMITS)
_TEXT_CONFIGS = ("text_config", "text_encoder", "language_config", "llm_config",
                 "encoder", "thinker_config")
_VISION_CONFIGS = ("vision_config", "visual_config", "image_config", "vision_encoder_config",
                   "encoder", "backbone_config")
_AUDIO_CONFIGS = ("audio_config", "speech_config", "audio_encoder_config", "encoder")
_DECODER_CONFIGS = ("decoder_config", "decoder", "text_config")


@dataclass(frozen=True)
class Guess:
    """One set of inputs for ``forward``: named tensors, non-tensor arguments, a note."""

    tensors: tuple[tuple[str, Any], ...]
    extra: tuple[tuple[str, Any], ...] = ()
    note: str = ""

    def describe(self) -> str:
        """``input_ids 1×128 int64, pixel_values 1×3×224×224 float32``."""
        parts = []
        for name, t in self.tensors:
            dims = "×".join(str(int(d)) for d in t.shape) or "scalar"
            parts.append(f"{name} {dims} {str(t.dtype).removeprefix('torch.')}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Inferred:
    """The inputs drawnet would give a model: guesses, best first, and where they come from.

    The trace takes the first guess that works (see :func:`trace_inferred`).
    """

    guesses: tuple[Guess, ...]
    source: str
    uses_seq_len: bool = False


class _CannotMake(Exception):
    """A parameter drawnet has no rule for."""


def infer_inputs(model: Any, *, seq_len: int | None = None) -> Inferred:
    """The inputs ``model`` takes, inferred from its config (see the module docstring).

    ``seq_len`` sets the number of tokens of token-id inputs. Raises
    :class:`~drawnet.errors.InputError` naming what to pass when nothing can be inferred,
    and :class:`~drawnet.errors.OptionError` for a ``seq_len`` the model does not use.

    Example:
        >>> import torch
        >>> infer_inputs(torch.nn.Linear(4, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drawnet.errors.InputError: no inputs given, and drawnet infers them only for \
transformers and timm models (Linear is neither): pass input_size=[1, 4] (on the command \
line: --input 1,4), ...
    """
    if seq_len is not None and (isinstance(seq_len, bool) or not isinstance(seq_len, int)
                                or seq_len < 1):
        raise OptionError(f"seq_len must be a positive whole number, got {seq_len!r}")
    if _is_transformers(model):
        inferred = _transformers(model, seq_len)
    elif _timm_cfg(model) is not None:
        inferred = _timm(model)
    else:
        raise InputError(_what_to_pass(model))
    if seq_len is not None and not inferred.uses_seq_len:
        names = ", ".join(n for n, _ in inferred.guesses[0].tensors)
        raise OptionError(
            f"seq_len sets the length of token-id inputs, but {type(model).__name__} "
            f"takes {names}: drop seq_len, or pass input_size to choose the shapes"
        )
    return inferred


def trace_inferred(model: Any, inferred: Inferred, *, kwargs: Mapping[str, Any] | None,
                   tracer: str, mode: str) -> ir.Graph:
    """Trace ``model`` with the first of ``inferred.guesses`` that works.

    With several guesses, each is first tried with the no-compute ``meta`` tracer (a guess
    the model cannot take fails there in a fraction of a second); only if none works
    there are they tried again with ``tracer``. Tensors in ``kwargs`` replace guessed
    inputs of the same name. The graph records the inputs used in ``graph.meta``
    (``inputs``, ``inputs_source``), and a ``note`` when a guess other than the first
    was taken.
    """
    from drawnet.trace import trace
    from drawnet.trace.inputs import parse_inputs

    given = dict(kwargs or {})

    def attempt(guess: Guess, name: str) -> ir.Graph:
        data = {k: v for k, v in guess.tensors if k not in given}
        extra = {k: v for k, v in guess.extra if k not in given}
        inputs = parse_inputs(model, None, data or None, {**extra, **given}) if data else \
            parse_inputs(model, None, None, {**extra, **given})
        graph = trace(model, inputs, tracer=name, mode=mode)
        facts = [("inputs", guess.describe()), ("inputs_source", inferred.source)]
        if guess.note:
            facts.append(("note", guess.note))
        return graph.replace(meta=(*graph.meta, *facts))

    guesses = inferred.guesses
    if len(guesses) > 1 and tracer in ("auto", "meta"):
        for guess in guesses:
            try:
                return attempt(guess, "meta")
            except (TraceError, InputError):
                continue
        if tracer == "meta":
            guesses = guesses[:1]  # report the first guess's failure below
    first: DrawnetError | None = None
    for guess in guesses:
        try:
            return attempt(guess, tracer)
        except (TraceError, InputError) as e:
            first = first or e
    assert first is not None
    used = guesses[0].describe()
    raise type(first)(
        f"with the inputs drawnet inferred from {inferred.source} ({used}): {first}; pass "
        "input_size or input_data to choose the inputs yourself"
    ) from first


# -- transformers ---------------------------------------------------------------------------

def _is_transformers(model: Any) -> bool:
    return any(
        c.__name__ == "PreTrainedModel" and c.__module__.startswith("transformers")
        for c in type(model).__mro__
    ) and getattr(model, "config", None) is not None


def _sub(config: Any, names: Iterable[str]) -> list[Any]:
    """The sub-configs of ``config`` among ``names`` (in that order), then ``config``."""
    found = []
    for name in names:
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "to_dict") and sub is not config:
            found.append(sub)
    return [*found, config]


def _first(configs: Iterable[Any], names: Iterable[str]) -> Any:
    """The first attribute among ``names`` set on any of ``configs`` (in that order)."""
    names = tuple(names)
    for cfg in configs:
        for name in names:
            value = getattr(cfg, name, None)
            if value is not None and not callable(value):
                return value
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    return None


def _special_ids(config: Any, depth: int = 0) -> set[int]:
    """Every token id the config (and its sub-configs) names: pad, bos, image..."""
    found: set[int] = set()
    if depth > 3:
        return found
    for key, value in vars(config).items():
        if hasattr(value, "to_dict"):
            found |= _special_ids(value, depth + 1)
        elif key.endswith(("token_id", "token_index", "token_ids", "_id", "_index")):
            values = value if isinstance(value, list | tuple) else [value]
            found |= {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
    return found


class _Maker:
    """Builds named inputs for one transformers model from its config."""

    def __init__(self, model: Any, seq_len: int | None) -> None:
        import torch

        self.model = model
        self.config = model.config
        self.seq_len = seq_len
        self.used_seq_len = False
        self.gen = torch.Generator().manual_seed(0)
        self.float_dtype = _float_dtype(model)
        self.device = _input_device(model)
        self.text = _sub(self.config, _TEXT_CONFIGS)
        self.vision = _sub(self.config, _VISION_CONFIGS)
        self.audio = _sub(self.config, _AUDIO_CONFIGS)
        self.decoder = _sub(self.config, _DECODER_CONFIGS)
        self.specials = _special_ids(self.config)

    # -- sizes --------------------------------------------------------------------------

    def tokens(self, configs: list[Any], limits: Iterable[str] = _POSITION_LIMITS) -> int:
        if self.seq_len is not None:
            self.used_seq_len = True
            return self.seq_len
        limit = _int(_first(configs, limits))
        return min(DEFAULT_SEQ_LEN, limit) if limit else DEFAULT_SEQ_LEN

    def token_id(self, configs: list[Any]) -> int:
        vocab = _int(_first(configs, ("vocab_size", "n_vocab", "num_tokens")))
        for candidate in range(5, 1000):
            if candidate not in self.specials and (vocab is None or candidate < vocab):
                return candidate
        return 0

    def image_hw(self) -> tuple[int, int]:
        size = _first(self.vision, ("image_size", "img_size", "input_size", "crop_size"))
        if size is None:
            cfg = _first(self.vision, ("pretrained_cfg",))
            if isinstance(cfg, Mapping):
                size = cfg.get("input_size")
        if isinstance(size, Mapping):
            size = [size.get("height"), size.get("width")] if "height" in size else \
                size.get("shortest_edge")
        if isinstance(size, list | tuple):
            dims = [int(d) for d in size if _int(d)]
            if len(dims) >= 2:
                return dims[-2], dims[-1]
            if dims:
                return dims[0], dims[0]
        if _int(size):
            return int(size), int(size)
        return DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE

    def channels(self) -> int:
        value = _first(self.vision, ("num_channels", "in_chans", "in_channels",
                                     "num_input_channels"))
        return _int(value) or 3

    def sampling_rate(self) -> int:
        return _int(_first(self.audio, ("sampling_rate", "sample_rate"))) or \
            DEFAULT_SAMPLING_RATE

    # -- tensors ------------------------------------------------------------------------

    def ids(self, length: int, value: int) -> Any:
        import torch

        return torch.full((1, length), value, dtype=torch.long, device=self.device)

    def floats(self, *shape: int) -> Any:
        import torch

        t = torch.randn(shape, generator=self.gen)
        return t.to(dtype=self.float_dtype, device=self.device)

    def make(self, name: str, variant: int = 0) -> Any:
        """The tensor for the input ``name``; ``variant`` picks an alternative layout."""

        if name == "input_ids" or (name.endswith("input_ids") and "decoder" not in name):
            return self.ids(self.tokens(self.text), self.token_id(self.text))
        if name == "decoder_input_ids":
            return self.ids(self.tokens(self.decoder, _DECODER_LIMITS),
                            self.token_id(self.decoder))
        if name in ("pixel_values", "image", "pixel_values_images"):
            h, w = self.image_hw()
            frames = _int(_first(self.vision, ("num_frames",)))
            if frames and name == "pixel_values":
                return self.floats(1, frames, self.channels(), h, w)
            return self.floats(1, self.channels(), h, w)
        if name == "pixel_values_videos":
            h, w = self.image_hw()
            frames = _int(_first(self.vision, ("num_frames",))) or 8
            return self.floats(1, frames, self.channels(), h, w)
        if name == "input_values":
            samples = self.sampling_rate() * AUDIO_SECONDS
            channels = _int(_first(self.audio, ("audio_channels", "channels")))
            codec = channels is not None or _first(
                self.audio, ("codebook_size", "num_quantizers", "upsampling_ratios",
                             "downsampling_ratios")) is not None
            if codec != bool(variant):
                return self.floats(1, channels or 1, samples)
            return self.floats(1, samples)
        if name in ("input_features", "decoder_input_values"):
            return self.features(variant)
        if name.endswith(("attention_mask", "padding_mask")) or name == "pixel_mask":
            return None  # optional everywhere it has a default; made only when required
        raise _CannotMake(name)

    def features(self, variant: int) -> Any:
        bins = _int(_first(self.audio, ("num_mel_bins", "feature_size", "n_mels",
                                        "num_mel_filters", "input_feat_per_channel")))
        per_channel = _int(_first(self.audio, ("input_feat_per_channel",)))
        in_channels = _int(_first(self.audio, ("input_channels",)))
        if per_channel and in_channels:
            bins = per_channel * in_channels
        bins = bins or 80
        source = _int(_first(self.audio, ("max_source_positions",)))
        if source and _first(self.audio, ("num_mel_bins",)) is not None:
            frames = 2 * source  # a Whisper-style encoder: its fixed window
            return self.floats(1, bins, frames) if not variant else \
                self.floats(1, frames, bins)
        frames = FRAMES_PER_SECOND * AUDIO_SECONDS
        return self.floats(1, frames, bins) if not variant else self.floats(1, bins, frames)

    def required(self, name: str) -> Any:
        """An input ``forward`` cannot do without; masks become ones."""
        import torch

        t = self.make(name)
        if t is not None:
            return t
        length = self.tokens(self.text)
        return torch.ones((1, length), dtype=torch.long, device=self.device)


def _float_dtype(model: Any) -> Any:
    import torch

    for t in (*model.parameters(), *model.buffers()):
        if t.dtype.is_floating_point:
            return t.dtype
    return torch.float32


def _input_device(model: Any) -> Any:
    """Where inferred tensors are made: the model's device, or CPU for a meta model."""
    import torch

    for t in (*model.parameters(), *model.buffers()):
        return torch.device("cpu") if t.device.type == "meta" else t.device
    return torch.device("cpu")


def _forward_params(model: Any) -> dict[str, inspect.Parameter]:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p for k, p in params.items()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _transformers(model: Any, seq_len: int | None) -> Inferred:
    config = model.config
    params = _forward_params(model)
    main = getattr(model, "main_input_name", "input_ids")
    mains = [main] if isinstance(main, str) else [str(m) for m in main]
    wanted = [m for m in mains if m in params or not params]
    wanted += [n for n, p in params.items() if p.default is p.empty and n not in wanted]
    if getattr(config, "is_encoder_decoder", False):
        for name in ("decoder_input_ids", "decoder_input_values"):
            if name in params and name not in wanted:
                wanted.append(name)
                break
    full = wanted + [m for m in _MODALITIES if m in params and m not in wanted]
    required = {n for n, p in params.items() if p.default is p.empty}
    maker = _Maker(model, seq_len)
    what = f"the {type(model).__name__} config"

    def build(names: list[str], variant: int = 0) -> Guess:
        tensors = []
        for name in names:
            try:
                t = maker.required(name) if name in required else maker.make(name, variant)
            except _CannotMake:
                if name in required:
                    raise InputError(_cannot(model, name, names)) from None
                continue
            if t is not None:
                tensors.append((name, t))
        return Guess(tuple(tensors))

    guesses = [build(full)]
    if full != wanted:
        left_out = [n for n in full if n not in wanted]
        note = (
            f"drawn from {', '.join(wanted)} only: with {', '.join(left_out)} too, the "
            "model needs placeholder tokens in input_ids that match its features, which "
            "a no-compute trace cannot place; pass input_data with all of them (and a "
            "model with real weights) to draw that part"
        )
        guesses.append(Guess(build(wanted).tensors, note=note))
    if any(n in ("input_values", "input_features", "decoder_input_values") for n in full):
        guesses.append(build(full, variant=1))
    unique: list[Guess] = []
    for g in guesses:
        if g.tensors and g.describe() not in [u.describe() for u in unique]:
            unique.append(g)
    if not unique:
        raise InputError(_cannot(model, mains[0], mains))
    return Inferred(tuple(unique), what, maker.used_seq_len)


def _cannot(model: Any, name: str, names: list[str]) -> str:
    listed = ", ".join(names)
    return (
        f"drawnet cannot infer the input {name!r} of {type(model).__name__} from its "
        f"config (forward needs {listed}): pass them yourself, e.g. "
        f"input_data={{{', '.join(repr(n) + ': ...' for n in names)}}}"
    )


# -- timm -----------------------------------------------------------------------------------

def _timm_cfg(model: Any) -> Mapping[str, Any] | None:
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        if isinstance(cfg, Mapping) and isinstance(cfg.get("input_size"), list | tuple):
            return cfg
    return None


def _timm(model: Any) -> Inferred:
    import torch

    cfg = _timm_cfg(model)
    assert cfg is not None
    shape = tuple(int(d) for d in cfg["input_size"])
    gen = torch.Generator().manual_seed(0)
    t = torch.randn((1, *shape), generator=gen).to(dtype=_float_dtype(model),
                                                    device=_input_device(model))
    name = _forward_names(model)[:1] or ["x"]
    return Inferred((Guess(((name[0], t),)),), "timm's pretrained_cfg")


def _forward_names(model: Any) -> list[str]:
    return [n for n, p in _forward_params(model).items() if p.kind != p.KEYWORD_ONLY]


# -- everything else: say exactly what to pass -----------------------------------------------

def _what_to_pass(model: Any) -> str:
    """The error for a model drawnet cannot read inputs from, with a shape to pass."""
    cls = type(model).__name__
    params = _forward_params(model)
    needed = [n for n, p in params.items()
              if p.default is p.empty and p.kind != p.KEYWORD_ONLY]
    shape, dtype, why = _first_layer_shape(model)
    start = (f"no inputs given, and drawnet infers them only for transformers and timm "
             f"models ({cls} is neither)")
    if len(needed) > 1:
        first = shape or "[...]"
        shapes = ", ".join([first, *(["[...]"] * (len(needed) - 1))])
        flags = " ".join(["--input " + _flag(first), *(["--input ..."] * (len(needed) - 1))])
        return (f"{start}: forward takes {len(needed)} inputs ({', '.join(needed)}): pass "
                f"one shape each, input_size=[{shapes}] (on the command line: {flags}), "
                "or input_data=(tensor, ...)")
    if shape:
        dt, dflag = (f", dtypes={dtype!r}", f" --dtype {dtype}") if dtype else ("", "")
        return (f"{start}: pass input_size={shape}{dt} (on the command line: --input "
                f"{_flag(shape)}{dflag}), since {why}; the first number is the batch")
    return (f"{start}: pass input_size (e.g. [1, 3, 224, 224] for a batch of one image; "
            "on the command line: --input 1,3,224,224) or input_data (a tensor, a tuple of "
            "tensors or a dict of keyword tensors)")


def _flag(shape: str) -> str:
    """``[1, 3, 224, 224]`` as the command line takes it: ``1,3,224,224``."""
    return shape.strip("[]").replace(" ", "")


def _first_layer_shape(model: Any) -> tuple[str, str, str]:
    """A plausible input shape from the first layer with weights: (shape, dtype, why)."""
    for path, mod in model.named_modules():
        if next(mod.children(), None) is not None:
            continue
        cls = type(mod).__name__
        where = f"its first layer {path} is {cls}" if path else f"it is {cls}"
        channels = getattr(mod, "in_channels", None)
        if cls.startswith("Conv") and isinstance(channels, int):
            spatial = {"1d": "128", "2d": "224, 224", "3d": "16, 112, 112"}.get(cls[-2:])
            if spatial:
                return (f"[1, {channels}, {spatial}]", "",
                        f"{where} with {channels} input channels")
        features = getattr(mod, "in_features", None)
        if cls.endswith("Linear") and isinstance(features, int):
            return f"[1, {features}]", "", f"{where} with {features} input features"
        vocab = getattr(mod, "num_embeddings", None)
        if cls.startswith("Embedding") and isinstance(vocab, int):
            return "[1, 16]", "long", f"{where}: token ids below {vocab}"
        size = getattr(mod, "input_size", None)
        if cls in ("RNN", "LSTM", "GRU") and isinstance(size, int):
            shape = f"[1, 16, {size}]" if getattr(mod, "batch_first", False) else \
                f"[16, 1, {size}]"
            return shape, "", f"{where} with input_size={size}"
        normalized = getattr(mod, "normalized_shape", None)
        if cls in ("LayerNorm", "RMSNorm") and isinstance(normalized, tuple) and normalized:
            return f"[1, 16, {normalized[-1]}]", "", f"{where} over {normalized[-1]} features"
        if any(True for _ in mod.parameters(recurse=False)):
            break
    return "", "", ""
