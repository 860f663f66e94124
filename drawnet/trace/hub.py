"""Models named by ``hf:`` and ``timm:`` specs, built on the meta device from config alone.

- ``hf:<repo id or folder>[@revision]``: the config is read with transformers' own
  ``AutoConfig.from_pretrained``, so a local folder, the user's cache, ``HF_TOKEN`` for
  gated repos and ``HF_HUB_OFFLINE=1`` all behave as they do for transformers users. Only
  ``config.json`` is read (and ``preprocessor_config.json`` when there is one, for an
  audio model's sampling rate); no weights are downloaded. The model is built under
  ``torch.device("meta")`` in the config's own dtype: no memory for weights, a 70 B model
  in seconds.
- ``timm:<name>[.<pretrained tag>]``: ``timm.create_model(name, pretrained=False)`` on
  the meta device; its ``pretrained_cfg`` gives the input size (the tag picks it:
  ``timm:convnext_tiny.fb_in22k_ft_in1k_384`` takes 384×384 images).

Which head (``task``) an ``hf:`` spec gets: by default the architecture the config names
(``"architectures": ["LlamaForCausalLM"]``), since that is the model the checkpoint holds
and what its model card describes; the base model (``AutoModel``) when the config names
none, or names one transformers does not have. ``task`` picks another: see
:data:`TASKS`. Remote code (``auto_map``) is never run.

Example:
    >>> import tempfile, transformers
    >>> folder = tempfile.mkdtemp()
    >>> transformers.BertConfig(num_hidden_layers=2).save_pretrained(folder)
    >>> model = load_hf(folder)
    >>> type(model).__name__, next(model.parameters()).device.type
    ('BertModel', 'meta')
    >>> type(load_hf(folder, task="masked-lm")).__name__
    'BertForMaskedLM'
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from pathlib import Path
from typing import Any

from drawnet.errors import MissingDependencyError, OptionError, SourceError

PREFIXES = ("hf:", "timm:")
"""Spec prefixes this module loads."""

TASKS: dict[str, str] = {
    "base": "AutoModel",
    "pretraining": "AutoModelForPreTraining",
    "causal-lm": "AutoModelForCausalLM",
    "masked-lm": "AutoModelForMaskedLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
    "seq-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "multiple-choice": "AutoModelForMultipleChoice",
    "image-classification": "AutoModelForImageClassification",
    "object-detection": "AutoModelForObjectDetection",
    "semantic-segmentation": "AutoModelForSemanticSegmentation",
    "instance-segmentation": "AutoModelForInstanceSegmentation",
    "universal-segmentation": "AutoModelForUniversalSegmentation",
    "depth-estimation": "AutoModelForDepthEstimation",
    "masked-image-modeling": "AutoModelForMaskedImageModeling",
    "video-classification": "AutoModelForVideoClassification",
    "zero-shot-image-classification": "AutoModelForZeroShotImageClassification",
    "image-text-to-text": "AutoModelForImageTextToText",
    "speech-seq2seq": "AutoModelForSpeechSeq2Seq",
    "ctc": "AutoModelForCTC",
    "audio-classification": "AutoModelForAudioClassification",
    "text-to-waveform": "AutoModelForTextToWaveform",
}
"""``--task`` names and the transformers auto class each builds."""


def is_named(spec: str) -> bool:
    """Whether ``spec`` is an ``hf:`` or ``timm:`` spec.

    Example:
        >>> is_named("hf:bert-base-uncased"), is_named("torchvision.models:resnet18")
        (True, False)
    """
    return spec.startswith(PREFIXES)


def load_named(spec: str, *, task: str | None = None) -> Any:
    """The model an ``hf:`` or ``timm:`` spec names, on the meta device.

    Example:
        >>> load_named("timm:resnet18").pretrained_cfg["input_size"]
        (3, 224, 224)
    """
    prefix, _, name = spec.partition(":")
    if not name.strip():
        example = "hf:bert-base-uncased" if prefix == "hf" else "timm:resnet50"
        raise SourceError(f"{spec!r} names no model after '{prefix}:', e.g. {example}")
    if prefix == "timm":
        if task is not None:
            raise OptionError("task picks a transformers head: it applies to hf: specs only")
        return load_timm(name)
    if prefix == "hf":
        return load_hf(name, task=task)
    raise SourceError(f"unknown model source {prefix!r} (must be one of 'hf', 'timm')")


def _require(package: str, extra: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise MissingDependencyError(
            f"drawing a model by name with '{extra}:' needs {package}: "
            f"pip install {package} (or pip install drawnet[{extra}])"
        ) from e


def load_hf(ref: str, *, task: str | None = None) -> Any:
    """A transformers model built on the meta device from the config at ``ref``.

    ``ref`` is a Hub repo id (``meta-llama/Llama-3.1-70B``, optionally ``@revision``) or a
    folder holding ``config.json``. See the module docstring for ``task``.
    """
    transformers = _require("transformers", "hf")
    import torch

    if task is not None and task not in TASKS:
        close = difflib.get_close_matches(task, TASKS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(repr(t) for t in TASKS)
        raise OptionError(f"unknown task: {task!r} (must be one of {listed}){hint}")
    name, revision = ref, None
    if "@" in ref and not Path(ref).exists():
        name, _, revision = ref.rpartition("@")
    config = _config(transformers, name, revision)
    cls, what = _model_class(transformers, config, task)
    try:
        with torch.device("meta"):
            model = cls.from_config(config) if hasattr(cls, "from_config") and \
                cls.__name__.startswith("AutoModel") else cls._from_config(config)
    except ValueError as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Unrecognized configuration class" in text and task:
            raise SourceError(
                f"{ref!r} is a {config.model_type!r} model, which has no {task!r} head in "
                f"transformers {transformers.__version__}: pick another --task"
            ) from e
        raise SourceError(f"cannot build {what} from the config of {ref!r}: {text}") from e
    except Exception as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SourceError(
            f"cannot build {what} from the config of {ref!r}: {type(e).__name__}: {text}"
        ) from e
    _sampling_rate(transformers, name, revision, model.config)
    return model.eval()


def _config(transformers: Any, name: str, revision: str | None) -> Any:
    folder = Path(name).expanduser()
    if folder.exists() and not (folder / "config.json").is_file():
        where = "a file" if folder.is_file() else "a folder without a config.json"
        raise SourceError(
            f"{name!r} is {where}: hf: takes a Hub repo id or a folder holding config.json "
            "(config.save_pretrained(folder) writes one)"
        )
    try:
        return transformers.AutoConfig.from_pretrained(
            str(folder) if folder.exists() else name, revision=revision)
    except (OSError, ValueError, KeyError) as e:
        text = " ".join(str(e).split()).rstrip(".")
        if "model_type" in text or isinstance(e, KeyError):
            raise SourceError(
                f"transformers {transformers.__version__} does not know the model type in "
                f"the config of {name!r} ({text[:200]}): upgrade transformers; drawnet "
                "does not run remote code"
            ) from e
        offline = " (HF_HUB_OFFLINE is set: only the local cache is searched)" if \
            _offline() else ""
        raise SourceError(
            f"cannot read the config of {name!r}{offline}: {text[:300]}; give a Hub repo "
            "id (online, or already in your cache; gated repos need HF_TOKEN or "
            "`hf auth login`) or a folder holding config.json"
        ) from e


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes", "true")


def _model_class(transformers: Any, config: Any, task: str | None) -> tuple[Any, str]:
    """The class to build and a few words naming it, for errors."""
    if task is not None:
        auto = getattr(transformers, TASKS[task], None)
        if auto is None:
            raise OptionError(
                f"task {task!r} needs {TASKS[task]}, which transformers "
                f"{transformers.__version__} does not have"
            )
        return auto, f"a {task!r} model"
    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, str(arch), None) if str(arch).isidentifier() else None
        if isinstance(cls, type) and hasattr(cls, "_from_config"):
            return cls, str(arch)
    return transformers.AutoModel, "the base model"


def _sampling_rate(transformers: Any, name: str, revision: str | None, config: Any) -> None:
    """Record the feature extractor's sampling rate on a config that has none.

    Audio models are drawn with one second of audio; the config rarely says at what rate
    (the feature extractor's ``preprocessor_config.json`` does). Read from the local
    folder or the cache only, never downloaded for this.
    """
    if getattr(config, "sampling_rate", None) is not None:
        return
    folder = Path(name).expanduser()
    path: Path | None = folder / "preprocessor_config.json" if folder.is_dir() else None
    if path is None:
        with contextlib.suppress(Exception):
            found = transformers.utils.cached_file(
                name, "preprocessor_config.json", revision=revision, local_files_only=True,
                _raise_exceptions_for_missing_entries=False,
                _raise_exceptions_for_connection_errors=False)
            path = Path(found) if found else None
    if path is None or not path.is_file():
        return
    import json

    with contextlib.suppress(OSError, ValueError, AttributeError):
        rate = json.loads(path.read_text(encoding="utf-8")).get("sampling_rate")
        if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
            config.sampling_rate = rate


def load_timm(name: str) -> Any:
    """A timm model built on the meta device with ``pretrained=False``.

    Example:
        >>> load_timm("resnet_18")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drawnet.errors.SourceError: timm has no model 'resnet_18'; did you mean ...
    """
    timm = _require("timm", "timm")
    import torch

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.7)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
            " (timm.list_models() lists them)"
        raise SourceError(f"timm has no model {name!r}{hint}")
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
    except Exception as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise SourceError(f"timm cannot build {name!r}: {type(e).__name__}: {text}") from e
    return model.eval()
