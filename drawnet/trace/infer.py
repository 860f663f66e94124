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
  its 30 s, ``2 × max_source_positions`` frames) or one second of 10 ms frames. Vision
  towers that take a grid of flattened patches (Qwen-VL's ``grid_thw``) get a 16×16
  grid; masks are ones shaped after their input. Where models of one kind differ in
  layout (features ``1×bins×frames`` or ``1×frames×bins``, patches of one or two frames,
  an image or a set of images), each layout is one :class:`_Plan`, tried in order: a
  wrong one fails on the meta device in a fraction of a second.
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

import dataclasses
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
SERIES_STEPS = 512
"""Past steps of a time series, at most (the config's ``context_length`` when shorter and
the model takes any length; a model that needs its full context gets it)."""

_MODALITIES = ("input_ids", "pixel_values", "pixel_values_videos", "input_features",
               "input_values")
"""Inputs that carry one modality each: a model with several gets all it takes."""

_POSITION_LIMITS = ("max_position_embeddings", "n_positions", "max_seq_len",
                    "max_sequence_length", "n_ctx", "max_text_len", "max_len",
                    "max_length_text", "block_size", "seq_length")
_DECODER_LIMITS = ("max_target_positions", "max_decoder_position_embeddings",
                   *_POSITION_LIMITS)


@dataclass(frozen=True, eq=False)
class Guess:
    """One set of inputs for ``forward``: named tensors, non-tensor arguments, a note.

    Guesses compare by identity (their tensors have no single truth value)."""

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

    import torch

    given_tensors = {k: v for k, v in given.items() if isinstance(v, torch.Tensor)}
    given_other = {k: v for k, v in given.items() if k not in given_tensors}

    def attempt(guess: Guess, name: str) -> ir.Graph:
        data = {**{k: v for k, v in guess.tensors if k not in given}, **given_tensors}
        extra = {**{k: v for k, v in guess.extra if k not in given}, **given_other}
        inputs = parse_inputs(model, None, data, extra)
        graph = trace(model, inputs, tracer=name, mode=mode)
        used = Guess(tuple(data.items())).describe()
        facts = [("inputs", used), ("inputs_source", inferred.source)]
        if guess.note:
            facts.append(("note", guess.note))
        return graph.replace(meta=(*graph.meta, *facts))

    guesses = inferred.guesses
    also_text = ""
    if len(guesses) > 1 and tracer in ("auto", "meta"):
        # A wrong guess fails on meta at once; one that is right may still fail there for
        # reasons another tracer gets past (tensors made on a real device, branches on
        # values): only those are tried again with ``tracer``.
        again: list[Guess] = []
        failed: dict[int, BaseException] = {}
        for i, guess in enumerate(guesses):
            try:
                return attempt(guess, "meta")
            except (TraceError, InputError) as e:
                failed[i] = e
                if _worth_retrying(e):
                    again.append(guess)
        fallback = next((i for i, g in enumerate(guesses) if g.note), None)
        if fallback is not None and all(g is not guesses[fallback] for g in again):
            # say how the fallback (one modality) failed too, not only the first guess
            also = f"{', '.join(n for n, _ in guesses[fallback].tensors)} alone"
            failure = failed[fallback]
            place = getattr(failure, "place", "")
            cause = getattr(failure, "cause", "") or str(failure)
            also_text = f"; with {also}, {'it failed ' + place if place else 'it failed'}: " \
                        f"{cause}"
        guesses = tuple(again) if again and tracer == "auto" else guesses[:1]
    first: DrawnetError | None = None
    used = ""
    for guess in guesses:
        try:
            return attempt(guess, tracer)
        except (TraceError, InputError) as e:
            if first is None:
                first, used = e, guess.describe()
    assert first is not None
    kind = InputError if isinstance(first, InputError) else TraceError
    raise kind(
        f"with the inputs drawnet inferred from {inferred.source} ({used}): {first}"
        f"{also_text}; pass input_size or input_data to choose the inputs yourself"
    ) from first


def _worth_retrying(e: BaseException) -> bool:
    """Whether a meta-trace failure may be the meta tracer's own, not the inputs'."""
    from drawnet.trace.common import DATA_DEPENDENT, TracerFailure

    if not isinstance(e, TracerFailure):
        return False
    cause = e.cause.lower()
    return e.kind == DATA_DEPENDENT or "meta" in cause or "same device" in cause


# -- transformers ---------------------------------------------------------------------------

def _is_transformers(model: Any) -> bool:
    return any(
        c.__name__ == "PreTrainedModel" and c.__module__.startswith("transformers")
        for c in type(model).__mro__
    ) and getattr(model, "config", None) is not None


def _sub(config: Any, keywords: Iterable[str]) -> list[Any]:
    """The sub-configs of ``config`` whose names hold one of ``keywords`` (in keyword
    order: ``vision_config`` before ``encoder``), then ``config`` itself."""
    subs = [(k, v) for k, v in vars(config).items()
            if hasattr(v, "to_dict") and v is not config and not k.startswith("_")]
    found: list[Any] = []
    for word in keywords:
        for key, value in subs:
            if word in key and all(value is not f for f in found):
                found.append(value)
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


_AUDIO = ("input_values", "input_features", "decoder_input_values")
_SKIP_MASKS = ("head_mask", "bool_masked_pos", "mask_time_indices", "input_masks",
               "prompt_masks", "context_mask", "target_mask", "decoder_attention_mask",
               "cross_attn_head_mask", "decoder_head_mask")


@dataclass(frozen=True)
class _Plan:
    """One way to lay out a model's inputs: the names to make, and a choice wherever
    models of the same kind differ. Plans are tried in order; a wrong layout fails on
    the meta device in a fraction of a second.

    - ``audio``: raw audio as ``1×samples``, ``1×channels×samples`` (codecs), a
      spectrogram ``1×frames×bins``, or hidden features ``1×frames×hidden`` (a model
      without its feature encoder); features as ``1×bins×frames`` (Whisper),
      ``1×frames×bins`` or ``1×1×frames×bins`` (CLAP);
    - ``images``: 1: ``1×1×C×H×W`` (one image of a set), 2: a pair; 3: the patches of a
      grid as ``N×C×P×P`` (for a Conv2d patch embedding); 4: patches of two frames each
      where the config does not say how many;
    - ``bins``: features per frame: the config's (0), 128 log-mel bins where it names
      none (1), or the config's stacked 2 or 4 frames deep (2, 4);
    - ``codebooks``: token ids with one column per audio codebook plus the text (Kyutai);
    - ``hidden``: ``hidden_states`` inputs as ``1×tokens×hidden`` (0), channels first
      ``1×hidden×frames`` (1), or raw audio ``1×channels×samples`` (2);
    - ``short``: a time series of at most :data:`SERIES_STEPS` past steps, where the
      config's context is longer (TimesFM: 16,384);
    - ``note``: said in the graph when this plan is used; ``nocache``: ``use_cache=False``.
    """

    names: tuple[str, ...]
    audio: int = 0
    images: int = 0
    bins: int = 0
    codebooks: bool = False
    hidden: int = 0
    short: bool = False
    note: str = ""
    nocache: bool = False


class _Maker:
    """Builds named inputs for one transformers model from its config, laid out as
    ``plan`` says (see :class:`_Plan`)."""

    def __init__(self, model: Any, seq_len: int | None, plan: _Plan, *,
                 grid: bool = False, flat: bool = False) -> None:
        import torch

        self.model = model
        self.config = model.config
        self.seq_len = seq_len
        self.plan = plan
        self.variant = plan.audio
        self.bins_rule = plan.bins
        self.used_seq_len = False
        self.gen = torch.Generator().manual_seed(0)
        self.float_dtype = _float_dtype(model)
        self.device = _input_device(model)
        self.text = _sub(self.config, ("text", "language", "llm", "thinker", "encoder"))
        self.vision = _sub(self.config, ("vision", "visual", "image", "backbone", "encoder"))
        self.audio = _sub(self.config, ("audio", "speech", "asr", "encoder"))
        self.decoder = _sub(self.config, ("decoder", "text", "language"))
        self.specials = _special_ids(self.config)
        self.frames = 0  # the time steps of the last audio input made
        self.samples = 0
        self.choices = 2 if type(model).__name__.endswith("ForMultipleChoice") else 0
        self.image_variant = plan.images
        params = _forward_params(model)
        self.params = set(params)
        # masks typed as booleans (``audio_mel_mask: torch.BoolTensor``) are made so
        self.bool_masks = {n for n, p in params.items() if "bool" in str(p.annotation).lower()}
        self.grid = grid or _first(self.vision, ("temporal_patch_size",)) is not None
        self.flat = flat  # SigLIP 2: patches flattened, with their grid's shape

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
        """Height and width of one image: the config's size, with whole windows of patches
        where attention runs in windows (RF-DETR), and SegGPT's half of a prompt pair."""
        h, w = self._image_hw()
        patch = _int(_first(self.vision, ("patch_size",)))
        windows = _int(_first(self.vision, ("num_windows",)))
        if patch and windows:
            side = patch * windows
            h, w = h + -h % side, w + -w % side
        if "prompt_pixel_values" in self.params:  # the image and its prompt, stacked
            h //= 2
        return h, w

    def _image_hw(self) -> tuple[int, int]:
        for cfg in self.vision:  # DepthPro: patches of patch_size at the smallest scale
            ratios = getattr(cfg, "scaled_images_ratios", None)
            patch = _int(getattr(cfg, "patch_size", None))
            if isinstance(ratios, list | tuple) and ratios and patch:
                side = int(patch / min(float(r) for r in ratios))
                return side, side
        size = None
        for cfg in self.vision:  # the most specific config that names a size wins
            size = _first([cfg], ("image_size", "img_size", "input_size", "crop_size",
                                  "max_img_size"))
            timm_cfg = getattr(cfg, "pretrained_cfg", None)
            if size is None and isinstance(timm_cfg, Mapping):
                size = timm_cfg.get("input_size")
            if size is not None:
                break
        if size is None:  # a timm model inside (TimmWrapper): its pretrained_cfg
            timm_size = next((cfg["input_size"] for m in self.model.modules()
                              if m is not self.model and (cfg := _timm_cfg(m)) is not None),
                             None)
            size = list(timm_size)[-2:] if timm_size else None
        if isinstance(size, Mapping):
            size = [size.get("height"), size.get("width")] if "height" in size else \
                size.get("shortest_edge")
        if isinstance(size, list | tuple):
            dims = [int(d) for d in size if _int(d)]
            if len(dims) >= 2:
                return dims[-2], dims[-1]
            if dims:
                return dims[0], dims[0]
        one = _int(size) or DEFAULT_IMAGE_SIZE
        return one, one

    def channels(self) -> int:
        value = _first(self.vision, ("num_channels", "in_chans", "in_channels",
                                     "num_input_channels"))
        return _int(value) or 3

    def sampling_rate(self) -> int:
        return _int(_first(self.audio, ("sampling_rate", "sample_rate"))) or \
            DEFAULT_SAMPLING_RATE

    def hidden(self) -> int:
        return _int(_first([*self.text], ("d_model", "hidden_size", "embed_dim",
                                          "n_embd"))) or 768

    # -- tensors ------------------------------------------------------------------------

    def ids(self, length: int, value: int) -> Any:
        import torch

        shape = (1, self.choices, length) if self.choices else (1, length)
        return torch.full(shape, value, dtype=torch.long, device=self.device)

    def ones(self, *shape: int) -> Any:
        import torch

        return torch.ones(shape, dtype=torch.long, device=self.device)

    def floats(self, *shape: int) -> Any:
        import torch

        t = torch.randn(shape, generator=self.gen)
        return t.to(dtype=self.float_dtype, device=self.device)

    def make(self, name: str, made: Mapping[str, Any]) -> Any:
        """The tensor for the input ``name`` (``None``: leave it out); ``made`` holds the
        inputs made so far, which masks follow."""
        import torch

        if name == "decoder_input_ids":
            ids = self.ids(self.tokens(self.decoder, _DECODER_LIMITS),
                           self.token_id(self.decoder))
            channels = _int(getattr(self.decoder[0], "num_channels", None)) \
                if self.decoder[0] is not self.config else None
            # Dia: one column of audio-codebook ids per channel
            return ids[..., None].expand(*ids.shape, channels).contiguous() if channels \
                else ids
        if name == "input_ids" and self.plan.codebooks:  # Kyutai: text + each codebook
            ids = self.ids(self.tokens(self.text), self.token_id(self.text))
            columns = 1 + int(getattr(self.config, "num_codebooks", 0))
            return ids[..., None].expand(*ids.shape, columns).contiguous()
        if name == "input_ids" or name.endswith("input_ids"):
            return self.ids(self.tokens(self.text), self.token_id(self.text))
        if self.grid and name in ("hidden_states", "pixel_values", "grid_thw",
                                  "image_grid_thw", "merge_sizes"):
            return self.patches(name)
        if self.flat and name in ("pixel_values", "pixel_attention_mask", "spatial_shapes",
                                  "pixel_position_ids"):
            return self.flat_patches(name)
        if name in ("prompt_pixel_values", "prompt_masks"):  # SegGPT: a prompt image pair
            return self.make("pixel_values", made)
        if name in ("pixel_values", "image", "pixel_values_images", "image_pixel_values"):
            h, w = self.image_hw()
            frames = _int(_first(self.vision, ("num_frames",)))
            if frames and name == "pixel_values":
                return self.floats(1, frames, self.channels(), h, w)
            if self.image_variant:  # a set of images (Idefics) or a pair to match (LoFTR)
                return self.floats(1, self.image_variant, self.channels(), h, w)
            return self.floats(1, self.channels(), h, w)
        if name in ("visual_feats", "visual_pos"):  # LXMERT: region features and boxes
            width = _int(getattr(self.config, f"{name.replace('feats', 'feat')}_dim", None))
            return self.floats(1, 36, width or (4 if name == "visual_pos" else 2048))
        if name == "pixel_values_videos":
            h, w = self.image_hw()
            frames = _int(_first(self.vision, ("num_frames",))) or 8
            return self.floats(1, frames, self.channels(), h, w)
        if name == "input_values":
            return self.raw_audio()
        if name in ("input_features", "decoder_input_values", "audio_mel"):
            return self.features(name)
        if name.startswith("past_") or name.startswith("future_") or name.startswith(
                "static_") or name == "freq":
            return self.series(name)
        if name == "bbox":
            dim = _int(_first(self.text, ("dim_bbox",)))
            length = self.tokens(self.text)
            return self.floats(1, length, dim) if dim else \
                torch.zeros((1, length, 4), dtype=torch.long, device=self.device)
        if name.endswith("mask"):
            mask = self.mask(name, made)
            return mask.bool() if mask is not None and name in self.bool_masks else mask
        if name == "encoder_hidden_states":
            width = _int(_first(self.text, ("encoder_hidden_size",))) or self.hidden()
            return self.floats(1, self.tokens(self.text), width)
        if name in ("states", "actions", "rewards", "returns_to_go", "timesteps"):
            return self.trajectory(name)
        if name == "hidden_states" and self.plan.hidden == 1:  # channels first
            return self.floats(1, self.hidden(), self.tokens(self.text))
        if name == "hidden_states" and self.plan.hidden == 2:  # a codec's raw audio
            channels = _int(_first(self.audio, ("channels", "audio_channels"))) or 1
            return self.floats(1, channels, self.audio_samples())
        layers = getattr(self.config, "target_layer_ids", None)
        if name == "context_hidden_states" and isinstance(layers, list | tuple) and layers:
            # a drafter reads the hidden states of several layers of its target model
            return self.floats(1, self.tokens(self.text), self.hidden() * len(layers))
        if name.endswith(("embeds", "hidden_states")) or name == "inputs":
            return self.floats(1, self.tokens(self.text), self.hidden())
        if name == "latents":  # a codec's decoder: continuous latents, channels first
            latent = _int(_first(self.audio, ("latent_dim", "hidden_size"))) or 512
            return self.floats(1, latent, 32) if self.plan.hidden != 1 else \
                self.floats(1, 32, latent)
        if name == "classes_structure" and "classes_input_ids" in made:  # OmDet-Turbo
            return torch.tensor([int(made["classes_input_ids"].shape[0])], dtype=torch.long,
                                device=self.device)
        if name == "lang_ids":  # X-MOD: the first of its languages' adapters
            return torch.zeros((1,), dtype=torch.long, device=self.device)
        if name == "target_sizes" and "pixel_values" in made:  # MiniCPM: patches per side
            h, w = made["pixel_values"].shape[-2:]
            patch = _int(_first(self.vision, ("patch_size",))) or 14
            return torch.tensor([[int(h) // patch, int(w) // patch]], dtype=torch.int32,
                                device=self.device)
        if name == "task_inputs":  # OneFormer: the task prompt's token ids
            length = _int(getattr(self.config, "task_seq_len", None)) or 77
            return self.ids(length, self.token_id(self.text))
        raise _CannotMake(name)

    def audio_samples(self) -> int:
        """One second of audio, rounded up to whole frames of the model's total stride
        where its config gives one as a product (``patch_sizes``, ``downsampling_ratios``)."""
        samples = self.sampling_rate() * AUDIO_SECONDS
        ratios = _first(self.audio, ("patch_sizes", "downsampling_ratios"))
        if isinstance(ratios, list | tuple) and ratios and all(_int(r) for r in ratios):
            hop = 1
            for r in ratios:
                hop *= int(r)
            samples += -samples % hop
        return samples

    def raw_audio(self) -> Any:
        samples = self.audio_samples()
        self.samples = samples
        channels = _int(_first(self.audio, ("audio_channels", "channels")))
        codec = channels is not None or _first(
            self.audio, ("codebook_size", "num_quantizers", "upsampling_ratios",
                         "downsampling_ratios")) is not None
        bins = _int(_first(self.audio, ("num_mel_bins", "n_mels")))
        layouts = ["channels", "flat"] if codec else ["flat", "channels"]
        if bins:  # a spectrogram model (AST) names its mel bins
            layouts.insert(0 if _first(self.audio, ("max_length",)) else 2, "spectrogram")
        layouts.append("hidden")  # a model without its feature encoder (SpeechT5Model)
        layout = layouts[min(self.variant, len(layouts) - 1)]
        if layout == "hidden":
            self.frames = FRAMES_PER_SECOND * AUDIO_SECONDS
            return self.floats(1, self.frames, self.hidden())
        if layout == "spectrogram":
            self.frames = _int(_first(self.audio, ("max_length",))) or FRAMES_PER_SECOND
            return self.floats(1, self.frames, bins or 128)
        if layout == "channels":
            return self.floats(1, channels or 1, samples)
        return self.floats(1, samples)

    def features(self, name: str) -> Any:
        configs = self.decoder if name.startswith("decoder") else self.audio
        bins = _int(_first(configs, ("feature_projection_input_dim", "num_mel_bins",
                                     "input_feat_size", "feature_size", "n_mels",
                                     "num_mel_filters", "input_feat_per_channel")))
        stacked = _int(_first(configs, ("num_stacked_frames",)))  # frames stacked as one
        if bins and stacked:
            bins *= stacked
        per_channel = _int(_first(configs, ("input_feat_per_channel",)))
        in_channels = _int(_first(configs, ("input_channels",)))
        if per_channel and in_channels:
            bins = per_channel * in_channels
        if self.bins_rule == 1 and not bins:
            bins = 128
        elif self.bins_rule in (2, 4):
            bins = (bins or 80) * self.bins_rule
        bins = bins or 80
        source = _int(_first(configs, ("max_source_positions",)))
        whisper = bool(source) and _first(configs, ("num_mel_bins",)) is not None
        self.frames = 2 * source if whisper and source else FRAMES_PER_SECOND * AUDIO_SECONDS
        if self.bins_rule in (2, 4):  # the same second, its frames stacked
            self.frames //= self.bins_rule
        factor = _int(_first(configs, ("subsampling_factor",)))
        if factor and self.frames % factor:  # encoders that take whole subsampled steps
            self.frames += factor - self.frames % factor
        if name.startswith("decoder"):
            self.frames = self.tokens(self.decoder, _DECODER_LIMITS)
            if self.variant == 4:  # SpeechT5Model: the decoder without its prenet
                width = _int(_first(self.decoder, ("hidden_size", "d_model"))) or 768
                return self.floats(1, self.frames, width)
        channels_first = whisper != bool(self.variant % 2)
        if self.variant >= 2:  # a single-channel image of the spectrogram (CLAP)
            return self.floats(1, 1, self.frames, bins)
        return self.floats(1, bins, self.frames) if channels_first else \
            self.floats(1, self.frames, bins)

    def mask(self, name: str, made: Mapping[str, Any]) -> Any:
        """A mask of ones shaped after the input it goes with, or ``None``."""
        if name == "pixel_mask" and "pixel_values" in made:
            h, w = made["pixel_values"].shape[-2:]
            return self.ones(1, int(h), int(w))
        if name.endswith("videos") and "pixel_values_videos" in made:
            return self.ones(1, int(made["pixel_values_videos"].shape[1]))
        if any(k in made for k in ("input_features", "audio_mel")) and (
                "feature" in name or "audio" in name or name in ("padding_mask",
                                                                 "attention_mask")):
            return self.ones(1, self.frames)
        if "input_values" in made and (name in ("padding_mask", "attention_mask")):
            t = made["input_values"]
            return self.ones(1, int(t.shape[1] if t.dim() == 3 and self.frames else
                                    t.shape[-1]))
        if name == "pixel_attention_mask" and "pixel_values" in made and \
                made["pixel_values"].dim() == 5:  # PI0: which of the cameras' images are there
            return self.ones(*made["pixel_values"].shape[:2])
        if name == "image_attention_mask" and "input_ids" in made and "pixel_values" in made:
            # IDEFICS: which images each token attends to (every token, every image)
            images = made["pixel_values"]
            count = int(images.shape[1]) if images.dim() == 5 else 1
            return self.ones(*made["input_ids"].shape, count)
        if name == "image_embeds_position_mask" and "input_ids" in made:
            # KOSMOS-2: the image's latent queries take the tokens after the first
            queries = _int(getattr(self.config, "latent_query_num", None)) or 64
            mask = self.ones(*made["input_ids"].shape) * 0
            mask[..., 1:1 + queries] = 1
            return mask
        ids = name.removesuffix("attention_mask") + "input_ids"
        if name.endswith("attention_mask") and ids in made:  # also qformer_, classes_...
            return self.ones(*made[ids].shape)
        return None

    def series(self, name: str) -> Any:
        """Time-series inputs: past and future values, time features, static features."""
        import torch

        cfg = self.config
        context = _int(getattr(cfg, "context_length", None)) or SERIES_STEPS
        if self.plan.short:  # a long context repeats the same steps per patch
            context = min(context, SERIES_STEPS)
        lags = getattr(cfg, "lags_sequence", None) or []
        past = context + (max(lags) if lags else 0)
        horizon = _int(getattr(cfg, "prediction_length", None)) or 24
        size = _int(getattr(cfg, "input_size", None)) or 1
        channels = _int(getattr(cfg, "num_input_channels", None))
        time_features = getattr(cfg, "num_time_features", None)
        time_features = time_features if isinstance(time_features, int) else 1
        if name in ("past_values", "past_observed_mask", "future_values"):
            steps = horizon if name.startswith("future") else past
            if channels:
                return self.floats(1, steps, channels) if name == "past_values" else \
                    self.ones(1, steps, channels).float()
            shape = (1, steps) if size == 1 else (1, steps, size)
            if name == "past_observed_mask":
                return torch.ones(shape, dtype=self.float_dtype, device=self.device)
            return self.floats(*shape)
        if name in ("past_time_features", "future_time_features"):
            steps = horizon if name.startswith("future") else past
            return self.floats(1, steps, time_features)
        if name == "past_values_padding":
            return torch.zeros((1, context), dtype=self.float_dtype, device=self.device)
        if name == "static_categorical_features":
            n = _int(getattr(cfg, "num_static_categorical_features", None))
            return torch.zeros((1, n), dtype=torch.long, device=self.device) if n else None
        if name == "static_real_features":
            n = _int(getattr(cfg, "num_static_real_features", None))
            return self.floats(1, n) if n else None
        if name == "freq":
            return torch.zeros((1, 1), dtype=torch.long, device=self.device)
        raise _CannotMake(name)

    def flat_patches(self, name: str) -> Any:
        """Patches flattened to ``1×N×(C·P·P)``, their mask and their grid's shape."""
        import torch

        patches = _int(_first(self.vision, ("num_patches",))) or 256
        side = max(1, int(patches ** 0.5))
        pool = _int(_first(self.vision, ("pooling_kernel_size",)))
        if pool:  # Gemma 4 pools k×k patches: whole pools per side
            side += -side % pool
        if name == "pixel_position_ids":  # Gemma 4: each patch's (x, y)
            ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
            grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)
            return grid[None].to(self.device)
        if name == "spatial_shapes":
            return torch.tensor([[side, side]], dtype=torch.long, device=self.device)
        if name == "pixel_attention_mask":
            return self.ones(1, side * side)
        patch = _int(_first(self.vision, ("patch_size",))) or 16
        return self.floats(1, side * side, self.channels() * patch * patch)

    def trajectory(self, name: str) -> Any:
        """A Decision Transformer's states, actions, rewards, returns and time steps."""
        import torch

        steps = min(20, _int(getattr(self.config, "max_ep_len", None)) or 20)
        if name == "timesteps":
            return torch.zeros((1, steps), dtype=torch.long, device=self.device)
        width = {"states": _int(getattr(self.config, "state_dim", None)),
                 "actions": _int(getattr(self.config, "act_dim", None))}.get(name) or 1
        return self.floats(1, steps, width)

    def patches(self, name: str) -> Any:
        """Flattened patches and their grid, as Qwen2-VL-style vision towers take them."""
        import torch

        merge = _int(_first(self.vision, ("spatial_merge_size", "merge_size"))) or 2
        side = 8 * merge  # a 16×16 grid of patches for the usual merge of 2
        if name in ("grid_thw", "image_grid_thw"):
            return torch.tensor([[1, side, side]], dtype=torch.long, device=self.device)
        if name == "merge_sizes":
            return torch.tensor([merge], dtype=torch.long, device=self.device)
        # frames per patch: the config's, else one (a tower for still images) or two
        temporal = _int(_first(self.vision, ("temporal_patch_size", "patch_temporal"))) or (
            2 if self.image_variant == 4 else 1)
        patch = _int(_first(self.vision, ("patch_size",))) or 14
        if self.image_variant == 3:  # each patch as a small image, for a Conv2d (Kimi)
            return self.floats(side * side, self.channels(), patch, patch)
        return self.floats(side * side, self.channels() * temporal * patch * patch)


def _float_dtype(model: Any) -> Any:
    import torch

    for t in (*model.parameters(), *model.buffers()):
        if t.dtype.is_floating_point:
            return t.dtype
    return torch.float32


def _input_device(model: Any) -> Any:
    """Where inferred tensors are made: the model's device, or CPU for a meta model."""
    import torch

    from drawnet.trace.eager import _model_device

    device = _model_device(model)
    return torch.device("cpu") if device.type == "meta" else device


def _forward_params(model: Any) -> dict[str, inspect.Parameter]:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p for k, p in params.items()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _companions(full: list[str], params: Mapping[str, inspect.Parameter]) -> list[str]:
    """Optional inputs some models still need beside ``full``: masks, layout boxes, the
    language of a model with one adapter per language, the patch grid of an image."""
    out = []
    for name in params:
        if name in full or name in _SKIP_MASKS or name.startswith("decoder_"):
            continue
        boxes = (name == "bbox" and "input_ids" in full) or name == "lang_ids" or (
            name == "target_sizes" and "pixel_values" in full)
        mask = name.endswith("mask") and (
            name in ("attention_mask", "padding_mask", "pixel_mask", "image_attention_mask",
                     "pixel_attention_mask", "image_embeds_position_mask")
            or any(name.startswith(f) for f in full)
            or ("feature" in name and "input_features" in full)
            or (name.endswith("videos") and "pixel_values_videos" in full))
        if boxes or mask:
            out.append(name)
    return out


def _transformers(model: Any, seq_len: int | None) -> Inferred:
    config = model.config
    params = _forward_params(model)
    main = getattr(model, "main_input_name", "input_ids")
    mains = [main] if isinstance(main, str) else [str(m) for m in main]
    required = [n for n, p in params.items() if p.default is p.empty]
    wanted = [m for m in mains if m in params or not params]
    wanted += [n for n in required if n not in wanted]
    if getattr(config, "is_encoder_decoder", False):
        for name in ("decoder_input_ids", "decoder_input_values"):
            if name in params and name not in wanted:
                wanted.append(name)
                break
    full = wanted + [m for m in _MODALITIES if m in params and m not in wanted]
    full += [n for n in ("visual_feats", "visual_pos") if n in params and n not in full]
    if "encoder_hidden_states" in params and getattr(config, "encoder_hidden_size", None):
        full.append("encoder_hidden_states")  # a Q-Former attends to image features
    if "states" in wanted:
        full += [n for n in ("actions", "rewards", "returns_to_go", "timesteps")
                 if n in params and n not in full]
    grid = any(n in required for n in ("grid_thw", "image_grid_thw"))
    flat = "spatial_shapes" in params or "pixel_position_ids" in params
    if "spatial_shapes" in params and "pixel_values" in full:
        full += [n for n in ("pixel_attention_mask", "spatial_shapes") if n not in full]
    extras = [n for n in _companions(full, params) if n not in full]
    audio = any(n in _AUDIO for n in full)
    left_out = [n for n in full if n not in wanted]
    note = (
        f"drawn from {', '.join(wanted)} only: with {', '.join(left_out)} too, the model "
        "needs placeholder tokens in input_ids that match its features, which a "
        "no-compute trace cannot place; pass input_data with all of them (and a model "
        "with real weights) to draw that part"
    )
    every = (*full, *extras)
    plans: list[_Plan] = [_Plan(tuple(full))]
    if "past_values" in full and (_int(getattr(config, "context_length", None)) or 0) > \
            SERIES_STEPS:
        plans.insert(0, _Plan(tuple(full), short=True))
    if left_out:
        plans.append(_Plan(tuple(wanted), note=note))
    if extras:
        plans.append(_Plan(every))
        if "pixel_values" in full:  # a set of images with its masks (IDEFICS)
            plans.append(_Plan(every, images=1))
    for layout in (1, 2, 3, 4) if audio else ():
        plans.append(_Plan(tuple(full), audio=layout))
        if extras:
            plans.append(_Plan(every, audio=layout))
    if any(n in ("input_features", "audio_mel") for n in full):
        # 128 log-mel bins when the config names none; frames stacked 2 or 4 deep
        plans += [_Plan(tuple(full), audio=layout, bins=rule)
                  for rule in (1, 2, 4) for layout in (0, 1)]
    if "pixel_values" in full:  # image sets: 1×1×C×H×W, 1×2×C×H×W
        plans += [_Plan(tuple(full), images=1), _Plan(tuple(full), images=2)]
    if "use_cache" in params:
        # Hybrid (attention + state-space) models may fail to make their cache from a
        # default config; the architecture is the same without it.
        plans += [dataclasses.replace(p, nocache=True) for p in plans[:2]]
    if grid and _first(_sub(config, ("vision", "visual")), (
            "temporal_patch_size", "patch_temporal")) is None:
        # patches of two frames each, or as small images for a Conv2d embedding
        plans += [_Plan(tuple(full), images=4), _Plan(tuple(full), images=3)]
    if "input_ids" in full and _int(getattr(config, "num_codebooks", None)) and \
            _int(getattr(config, "codebook_vocab_size", None)):
        plans.append(_Plan(tuple(full), codebooks=True))
    if "hidden_states" in full or "latents" in full:
        plans += [_Plan(tuple(full), hidden=1), _Plan(tuple(full), hidden=2)]
    guesses: list[Guess] = []
    used_seq_len = False
    for plan in plans:
        maker = _Maker(model, seq_len, plan, grid=grid, flat=flat)
        made: dict[str, Any] = {}
        for name in plan.names:
            try:
                t = maker.make(name, made)
            except _CannotMake:
                if name in required:
                    raise InputError(_cannot(model, name, wanted)) from None
                continue
            if t is None and name in required:
                raise InputError(_cannot(model, name, wanted))
            if t is not None:
                made[name] = t
        used_seq_len = used_seq_len or maker.used_seq_len
        extra = (("use_cache", False),) if plan.nocache else ()
        guess = Guess(tuple(made.items()), extra, note=plan.note)
        if guess.tensors and (guess.describe(), extra) not in [
                (g.describe(), g.extra) for g in guesses]:
            guesses.append(guess)
    if not guesses:
        raise InputError(_cannot(model, mains[0], mains))
    return Inferred(tuple(guesses), f"the {type(model).__name__} config", used_seq_len)


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
