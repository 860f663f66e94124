"""Draw every transformers AutoModel type and one model per timm module, with no input.

Breadth as a measured number: for each ``model_type`` in transformers'
``MODEL_MAPPING_NAMES`` the script builds the model class from its default config, with
layer counts shrunk to 2 where the config has them (``num_hidden_layers``, encoder and
decoder layers, ``depths`` of each stage, in sub-configs too), on the meta device, and
calls ``drawnet.draw_model(model)`` with no input, then lays the diagram out as SVG. The
same for the first model (by name) of every module in ``timm.list_modules()``.

Every failure is put in a class. A model whose drawing failed is then built again with
real (random) weights on the CPU, when it has at most ``--real-limit`` parameters, and
run for real on the same inferred inputs: if that real run fails too, the model cannot
run from its default config with those inputs; if it works, drawnet's side failed.

Usage::

    python bench/zoo_by_name.py                 # both zoos; writes bench/zoo_by_name.{md,json}
    python bench/zoo_by_name.py --only bert,clip,whisper --no-write
    python bench/zoo_by_name.py --timm-only     # or --hf-only
    python bench/zoo_by_name.py --replot        # rewrite the .md from the .json

Models run in worker processes of ``--chunk`` models each (a crash or a leak costs one
chunk, not the run), one after another, each model under a ``--timeout`` alarm.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHRINK_TO = 2
LAYER_KEYS = (
    "num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers",
    "decoder_layers", "num_encoder_layers", "num_decoder_layers", "text_layers",
    "vision_layers", "num_text_layers", "num_vision_layers", "encoder_num_layers",
    "decoder_num_layers", "num_hidden_layers_text", "depth", "encoder_depth",
    "decoder_depth", "num_blocks", "n_block", "num_backbone_layers", "num_audio_layers",
    "num_layers_text", "num_self_attends_per_block", "cross_attention_layers_count",
)

# Values a default config leaves unset although the model cannot be built without them
# (time-series models need a forecast horizon, timm_backbone a timm model name); set only
# where the default is None. Backbones are never loaded with pretrained weights.
OVERRIDES: dict[str, Any] = {"prediction_length": 24, "backbone": "resnet18",
                             "use_pretrained_backbone": False}
# Sizes a default config leaves None where transformers' configs have one convention for
# them (``head_dim = hidden_size // num_attention_heads``; as many key/value heads as
# heads, i.e. plain multi-head attention); set where the value is None, in sub-configs too.
DERIVED: dict[str, tuple[str, Any]] = {
    "head_dim": ("hidden_size // num_attention_heads",
                 lambda c: c["hidden_size"] // c["num_attention_heads"]),
    "num_key_value_heads": ("num_attention_heads", lambda c: c["num_attention_heads"]),
}
# Values one model type's default config leaves None, taken from its own documentation.
PER_TYPE: dict[str, dict[str, tuple[str, Any]]] = {
    "esm": {"vocab_size": ("33 (ESM-2's token vocabulary)", lambda c: 33),
            "mask_token_id": ("32 (ESM-2's <mask>)", lambda c: 32),
            "pad_token_id": ("1 (ESM-2's <pad>)", lambda c: 1)},
    "lfm2_moe": {"layer_types": ("full attention in every layer (LFM2's default when none "
                                 "is given)",
                                 lambda c: ["full_attention"] * c["num_hidden_layers"])},
}

# Failure classes, in the order the report lists them.
CLASSES = {
    "backend": "needs a package that is not installed",
    "build": "the model cannot be built from its default config",
    "infer": "drawnet cannot infer an input the model requires",
    "model": "the model fails on the inferred inputs in a real CPU run too (too large to "
             "run: the failing op, replayed on CPU, raises too)",
    "data-dependent": "tracer: data-dependent control flow or values (.item(), masks, MoE)",
    "trace": "tracer: other failure (the real CPU run works)",
    "trace-unchecked": "tracer: failure not checked by a real run (model too large)",
    "timeout": "took longer than the timeout",
    "wrong-params": "drawn, but with parameter totals other than the model's own",
}


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout("timed out")


def shrink(d: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """A config dict with its layer counts at most ``SHRINK_TO``, recursively.

    Lists as long as the old layer count (``layer_types``, per-layer sizes) are cut to the
    new count; ``depths`` (layers per stage) keeps its stages with fewer layers each.
    """
    out = dict(d)
    old_counts: set[int] = set()
    for key in LAYER_KEYS:
        value = out.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > SHRINK_TO:
            old_counts.add(value)
            out[key] = SHRINK_TO
    for key, value in list(out.items()):
        if isinstance(value, list) and old_counts and len(value) in old_counts:
            out[key] = value[:SHRINK_TO]
        elif key in ("depths", "num_layers_per_stage", "encoder_depths", "decoder_depths") \
                and isinstance(value, list) and all(isinstance(v, int) for v in value):
            out[key] = [min(v, SHRINK_TO) for v in value]
        elif isinstance(value, dict) and depth < 4 and ("model_type" in value or
                                                       any(k in value for k in LAYER_KEYS)):
            out[key] = shrink(value, depth + 1)
    return out


def complete(model_type: str, d: dict[str, Any], depth: int = 0) -> tuple[dict[str, Any],
                                                                          list[str]]:
    """``d`` with the :data:`DERIVED` and :data:`PER_TYPE` values filled in where they are
    None (in sub-configs too), and the settings made, as ``key=rule`` strings."""
    out = dict(d)
    made: list[str] = []
    rules = {**DERIVED, **PER_TYPE.get(model_type, {})} if depth == 0 else dict(DERIVED)
    for key, (rule, make) in rules.items():
        if key in out and out[key] is None:
            with contextlib.suppress(Exception):
                out[key] = make(out)
                made.append(f"{key}={rule}")
    for key, value in list(out.items()):
        if isinstance(value, dict) and depth < 3 and "model_type" in value:
            out[key], inner = complete(model_type, value, depth + 1)
            made += [f"{key}.{m}" for m in inner]
    return out, made


def hf_items() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    return sorted(MODEL_MAPPING_NAMES)


def timm_items() -> list[str]:
    import timm

    items = []
    for module in sorted(timm.list_modules()):
        names = sorted(timm.list_models(module=module))
        if names:
            items.append(f"timm:{names[0]}")
    return items


def _classify(e: BaseException) -> str:
    from drawnet.errors import InputError

    text = f"{type(e).__name__}: {e}"
    if isinstance(e, Timeout):
        return "timeout"
    if isinstance(e, InputError):
        return "infer"
    lowered = text.lower()
    if any(k in lowered for k in ("data-dependent", "data dependent", ".item()",
                                  "cannot be called on meta", "guard", "unbacked",
                                  "nonzero", "tolist", "could not extract specialized")):
        return "data-dependent"
    return "trace"


def _line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:400]


def build_hf(model_type: str, device: str, small: bool = True
             ) -> tuple[Any, Any, str, list[str]]:
    """(model, config, class name, settings made) for one AutoModel type; ``small``:
    layers shrunk. The :data:`DERIVED` and :data:`PER_TYPE` settings are made only when
    the default config cannot build the model without them."""
    import torch
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    name = MODEL_MAPPING_NAMES[model_type]
    name = name[0] if isinstance(name, list | tuple) else name
    cls = getattr(transformers, name)
    config_cls = CONFIG_MAPPING[model_type]
    base = config_cls()
    fixed = {k: v for k, v in OVERRIDES.items() if k in base.to_dict() and (
        getattr(base, k, None) is None or k == "use_pretrained_backbone")}
    if fixed:  # a value the config has no usable default for (listed in the report)
        with contextlib.suppress(Exception):
            base = config_cls.from_dict({**base.to_dict(), **fixed})
    config = base
    if small:
        with contextlib.suppress(Exception):
            config = config_cls.from_dict(shrink(base.to_dict()))
    try:
        with torch.device(device):
            model = cls._from_config(config)
        return model.eval(), config, name, []
    except Exception as e:
        completed, made = complete(model_type, config.to_dict())
        if not made:
            raise
        try:
            config = config_cls.from_dict(completed)
            with torch.device(device):
                model = cls._from_config(config)
        except Exception:
            raise e from None  # the default config's own failure
        return model.eval(), config, name, made  # listed in the report, per model


def build_timm(name: str, device: str) -> Any:
    import timm
    import torch

    with torch.device(device):
        return timm.create_model(name, pretrained=False).eval()


def real_check(item: str, limit: int) -> dict[str, Any]:
    """Build the model with real weights on CPU and run it on the inferred inputs."""
    import torch

    import drawnet
    from drawnet.trace.infer import infer_inputs

    if item.startswith("timm:"):
        model = build_timm(item[5:], "cpu")
    else:
        model, _, _, _ = build_hf(item, "cpu", small=True)
    try:
        guesses = infer_inputs(model).guesses
    except Exception as e:
        return {"real_run": "no-inputs", "real_error": _line(e)}
    error = ""
    ran = False
    for guess in guesses:
        try:
            with torch.no_grad():
                model(**dict(guess.tensors), **dict(guess.extra))
            ran = True
            break
        except Exception as e:
            error = error or _line(e)
    out: dict[str, Any] = {"real_run": "ok" if ran else "fail", "real_error": error}
    if ran:
        try:
            d = drawnet.draw_model(model)
            out["real_draw"] = f"ok ({d.tracer})"
        except Exception as e:
            out["real_draw"] = f"fail: {_line(e)[:200]}"
    del model
    gc.collect()
    return out


def attempt(item: str, small: bool, rec: dict[str, Any]) -> None:
    """Build and draw one model; fill ``rec`` with the outcome."""
    import drawnet

    t0 = time.perf_counter()
    try:
        if rec["zoo"] == "timm":
            model = build_timm(item[5:], "meta")
            rec["class"] = type(model).__name__
        else:
            model, _, rec["class"], made = build_hf(item, "meta", small)
            if made:
                rec["completed"] = made
    except Timeout:
        raise
    except Exception as e:
        text = _line(e)
        missing = ("requires the" in text and "library" in text) or isinstance(e, ImportError)
        rec.update(status="fail", kind="backend" if missing else "build", error=text)
        return
    rec["build_s"] = round(time.perf_counter() - t0, 3)
    rec["params"] = sum(p.numel() for p in model.parameters())
    if small:
        rec["params_small"] = rec["params"]
    t1 = time.perf_counter()
    try:
        d = drawnet.draw_model(model)
        d.pipe("svg")
    except Timeout:
        raise
    except Exception as e:
        rec.update(status="fail", kind=_classify(e), error=_line(e),
                   draw_s=round(time.perf_counter() - t1, 3))
    else:
        drawn = d.graph.totals.params
        if drawn != rec["params"]:  # a picture with the wrong totals is not counted
            rec.update(status="fail", kind="wrong-params",
                       error=f"the drawing counts {drawn:,} parameters, the model has "
                             f"{rec['params']:,}", draw_s=round(time.perf_counter() - t1, 3))
            return
        rec.update(status="ok", draw_s=round(time.perf_counter() - t1, 3),
                   tracer=d.tracer, inputs=d.graph.get_meta("inputs"),
                   boxes=len(d.graph.nodes),
                   notes=[n for n in d.notes if n.startswith("drawn from")])
        rec.pop("error", None)
        rec.pop("kind", None)


def run_one(item: str, timeout: float, real_limit: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"item": item, "zoo": "timm" if item.startswith("timm:") else "hf"}
    signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    for small in (True, False) if rec["zoo"] == "hf" else (True,):
        # A failure with shrunk layers may be the shrinking's (a hybrid model left with
        # no attention layer): such models are tried again at their default depth.
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            attempt(item, small, rec)
        except Timeout:
            rec.update(status="fail", kind="timeout", error=f"over {timeout:.0f} s")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        rec["shrunk"] = small
        if rec["status"] == "ok" or rec["kind"] in ("backend", "timeout"):
            break
        gc.collect()
    rec["total_s"] = round(time.perf_counter() - t0, 3)
    if rec["status"] == "fail" and rec["kind"] in ("data-dependent", "trace", "infer"):
        params = rec.get("params_small", rec.get("params", 0))
        if params > real_limit:
            if rec["kind"] != "infer" and any(m in rec.get("error", "") for m in REPLAYED):
                # too large to run for real: drawnet replayed the failing op on CPU tensors
                # of the same shapes, and torch raised there too (drawnet.trace.failfast)
                rec.update(kind="model", real_run="replayed")
            elif rec["kind"] != "infer":
                rec["kind"] = "trace-unchecked"
        else:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                rec.update(real_check(item, real_limit))
            except Exception as e:
                rec.update(real_run="error", real_error=_line(e))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if rec.get("real_run") == "fail" and rec["kind"] != "infer":
                rec["kind"] = "model"
    return rec


def worker(items: list[str], out: Path, timeout: float, real_limit: int) -> None:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    with contextlib.suppress(Exception):
        import transformers

        transformers.logging.set_verbosity_error()
    for item in items:
        rec = run_one(item, timeout, real_limit)
        with out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"{rec['status']:4} {rec.get('kind', ''):15} {rec.get('total_s', 0):6.2f}s "
              f"{item}", flush=True)
        gc.collect()


def drive(items: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run ``items`` in worker processes of ``args.chunk`` each; resume after a crash."""
    partial = Path(args.partial)
    partial.unlink(missing_ok=True)
    done: dict[str, dict[str, Any]] = {}
    todo = list(items)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    while todo:
        chunk = todo[:args.chunk]
        subprocess.run(
            [sys.executable, __file__, "--worker", "--partial", str(partial),
             "--timeout", str(args.timeout), "--real-limit", str(args.real_limit),
             "--only", ",".join(chunk)],
            env=env, check=False)
        if partial.exists():
            for line in partial.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                done[rec["item"]] = rec
        finished = [i for i in chunk if i in done]
        if len(finished) < len(chunk):  # the worker died: the next item crashed it
            crashed = chunk[len(finished)]
            if crashed not in done:
                done[crashed] = {"item": crashed, "zoo": "timm" if crashed.startswith(
                    "timm:") else "hf", "status": "fail", "kind": "build",
                    "error": "the worker process died (crash or out of memory)"}
        todo = [i for i in todo if i not in done]
    return [done[i] for i in items]


# -- report ---------------------------------------------------------------------------------

# What reading each remaining failure showed (transformers 5.24), printed beside it in the
# report. "drawnet:" marks the failures that are drawnet's (an input it does not make).
_GLM_ROPE = ("the text model's default config gives its rotary embedding 64 frequencies "
             "where its mrope sections [8, 12, 12] cover 32 (GLM-4.1V's public config sets "
             "partial_rotary_factor 0.5): a real run fails there too")
_GLM_VL = ("the vision path needs image_grid_thw and image tokens placed in the text; the "
           "text path alone fails as glm4v_text does (" + _GLM_ROPE + ")")
_LENGTHS = ("lengths decided by the weights ({}): a model with real weights is drawn "
            "(see the real CPU run), one on meta has no values to decide them")
_NO_IMAGE_TOKEN = ("the default config names no image token id, so image features have no "
                   "place in the text: a real run fails too")
NOTES: dict[str, str] = {
    "inkling2_vision": "drawnet: the tower takes pixels as rows of frames×channels values, "
                       "a layout drawnet has no rule for",
    "voxtral_realtime": "drawnet: the audio frames must line up with the text stream in a "
                        "way drawnet has no rule for",
    "pi0": "drawnet: the action embeddings are as wide as the action expert (dit_config), "
           "not the text model",
    **{m: _GLM_VL for m in ("glm4v", "glm4v_moe", "glm46v", "glmga")},
    **{m: _GLM_ROPE for m in ("glm4v_text", "glm4v_moe_text", "glm_image_text")},
    "glm_image": "the image path needs image_grid_thw and image tokens placed in the text; "
                 "the text path alone fails as glm_image_text does",
    "qwen3_omni_moe_thinker": "the text path alone fails in the default config's rotary "
                              "embedding (74 against 73 dimensions): a real run fails too",
    "step3p7": "image tokens must be placed in the text; the text path alone needs the "
               "sliding_window its default config leaves None",
    "deepseek_v2": "the default config leaves num_experts_per_tok None (topk with k=None)",
    "hunyuan_vl": "the default config leaves the rotary sections None",
    "hunyuan_vl_text": "the default config leaves the rotary sections None",
    "llama4": "default config: the vision adapter's width does not match the vision model's "
              "output; the text path alone stops at a transformers bug (no image_outputs)",
    **{m: _NO_IMAGE_TOKEN for m in ("blip-2", "instructblip", "instructblipvideo")},
    "bark": "no forward of its own: a container of three sub-models",
    "glm_image_vqmodel": "no forward of its own: the VQ-VAE is used through its methods",
    **{m: "the default config's backbone widths do not match its neck or head"
       for m in ("edgetam", "edgetam_vision_model", "uvdoc", "pp_ocrv6_small_det")},
    "lw_detr": "the default config selects no backbone feature maps (torch.cat of nothing)",
    **{m: "takes a stateful video inference session (frames and prompts), which drawnet "
          "does not make" for m in ("edgetam_video", "sam2_video", "sam3_tracker_video",
                                    "sam3_video")},
    "blt": _LENGTHS.format("entropy-based patching"),
    "vits": _LENGTHS.format("predicted durations"),
    "fastspeech2_conformer": _LENGTHS.format("predicted durations"),
    "fastspeech2_conformer_with_hifigan": _LENGTHS.format("predicted durations"),
    "lightglue": _LENGTHS.format("detected keypoints"),
}

REPLAYED = ("a real run stops there too", "a real run would stop there too")
"""What drawnet's error says when torch raised on CPU too for the op the meta run failed in."""
TRACER_CLASSES = ("data-dependent", "trace", "trace-unchecked", "timeout")
_CAUSES = (
    ("Tensor.item() cannot", "`.item()` on a meta tensor (a value read in Python)"),
    ("Cannot copy out of meta", "a meta tensor's values read (`.tolist()`, `int()`)"),
    ("nonzero", "`torch.nonzero` on meta (MoE routing, boolean masks)"),
    ("repeat_interleave", "`repeat_interleave` without `output_size` on meta"),
    ("GuardOnDataDependent", "export: a guard on a data-dependent value"),
    ("aten::equal", "`torch.equal` on meta"),
    ("BFloat16", "`torch._grouped_mm` on meta wants bfloat16 (MoE experts)"),
)


def _cause_of(error: str) -> str:
    for mark, cause in _CAUSES:
        if mark in error:
            return cause
    return "other (see the reason below)"


def report(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        "# Drawing models by name, with no input",
        "",
        "Written by `python bench/zoo_by_name.py` "
        f"({meta['date']}; {meta['machine']}; torch {meta['torch']}, transformers "
        f"{meta['transformers']}, timm {meta['timm']}).",
        "",
        "Classes: `backend`, `build` and `model` are the models' own (a missing package, "
        "a default config transformers cannot build, or a real CPU run that fails on the "
        "same inputs; for a model too large to run, drawnet's CPU replay of the failing op; "
        "a note marks the few of these where drawnet's inputs are to blame); `infer` are "
        "inputs drawnet has no rule for; the rest fail in the "
        "tracer, where a real run of the same model works or was not checked (over "
        "`--real-limit` parameters). Rerun: `python bench/zoo_by_name.py` (this run: "
        f"{meta.get('wall_s', 0) / 60:.0f} minutes wall on 2 cores; up to 40 on a loaded "
        "machine); `--replot` rewrites this file from the JSON.",
        "",
        "Each model is built from its default config with layer counts shrunk to "
        f"{SHRINK_TO} (where the config has them; a model that fails so is tried again at "
        "its default depth) on the meta device, drawn with `drawnet.draw_model(model)` "
        "and no input, and laid out as SVG. Time per model is build + draw + layout, one "
        "process, one torch thread. Values a default config leaves unset but cannot do "
        "without are set: " + ", ".join(f"`{k}={v!r}`" for k, v in OVERRIDES.items())
        + " (only where the default is None; pretrained backbones are never loaded). "
        "Where a default config cannot build its model because it leaves a size None, the "
        "size is completed by transformers' own conventions "
        + ", ".join(f"`{k} = {rule}`" for k, (rule, _) in DERIVED.items())
        + ", and per model type " + ", ".join(
            f"`{t}`: `{k}` = {rule}" for t, rules in PER_TYPE.items()
            for k, (rule, _) in rules.items())
        + "; the models each setting was made for are listed below. A drawing counts only "
        "if its parameter total equals the model's own (`sum(p.numel() for p in "
        "model.parameters())`).",
        "",
    ]
    completed = [r for r in results if r.get("completed")]
    if completed:
        out += ["Settings made (model: setting): " + "; ".join(
            f"`{r['item']}`: " + ", ".join(f"`{m}`" for m in r["completed"])
            for r in completed) + ".", ""]
    for zoo, title in (("hf", "transformers AutoModel types"), ("timm", "timm, one model "
                                                                       "per module")):
        rows = [r for r in results if r["zoo"] == zoo]
        if not rows:
            continue
        ok = [r for r in rows if r["status"] == "ok"]
        fails = [r for r in rows if r["status"] != "ok"]
        runnable = [r for r in rows if r.get("kind") not in ("backend", "build", "model")]
        times = sorted(r.get("total_s", 0.0) for r in ok)
        out += [f"## {title}", ""]
        built = [r for r in rows if r.get("kind") not in ("backend", "build")]
        mine = [r for r in fails if r["kind"] not in ("backend", "build", "model")
                or NOTES.get(r["item"], "").startswith("drawnet:")]
        out.append(f"**{len(ok)} of {len(rows)} drawn with no input "
                   f"({100 * len(ok) / len(rows):.1f} %)**; of the {len(built)} that "
                   f"can be built from their default config, "
                   f"{100 * len(ok) / max(1, len(built)):.1f} %; of the {len(runnable)} "
                   "that can be built and run from it "
                   f"({len(rows) - len(runnable)} cannot: missing package, constructor "
                   f"error, or a real run fails too), {len(ok)} "
                   f"({100 * len(ok) / max(1, len(runnable)):.1f} %). Failures counted on "
                   f"drawnet's side (tracer, inputs it does not make): {len(mine)}.")
        out.append("")
        if times:
            out.append(f"Time per drawn model: median {statistics.median(times):.2f} s, "
                       f"90th percentile {times[int(0.9 * (len(times) - 1))]:.2f} s, "
                       f"max {times[-1]:.2f} s (total {sum(times):.0f} s).")
            out.append("")
        fallback = [r for r in ok if r.get("notes")]
        if fallback:
            out.append(f"{len(fallback)} multi-modal generative models were drawn from their "
                       "text input only (their image or audio features are spliced in at "
                       "placeholder tokens, which a no-compute trace cannot place): "
                       + ", ".join(f"`{r['item']}`" for r in fallback) + ".")
            out.append("")
        tracers = collections.Counter(r.get("tracer", "?") for r in ok)
        out.append("Tracer used: " + ", ".join(f"{k} {v}" for k, v in tracers.most_common())
                   + ".")
        out.append("")
        if fails:
            counts = collections.Counter(r["kind"] for r in fails)
            out += ["| failure class | count |", "|---|--:|"]
            out += [f"| {CLASSES.get(k, k)} (`{k}`) | {counts[k]} |"
                    for k in CLASSES if counts.get(k)]
            tracer_side = [r for r in fails if r["kind"] in TRACER_CLASSES]
            if tracer_side:
                causes = collections.defaultdict(list)
                for r in tracer_side:
                    causes[_cause_of(r.get("error", ""))].append(r["item"])
                out += ["", "Tracer-side failures by cause:", "",
                        "| cause | count | models |", "|---|--:|---|"]
                out += [f"| {cause} | {len(items)} | "
                        + ", ".join(f"`{i}`" for i in sorted(items)) + " |"
                        for cause, items in sorted(causes.items(), key=lambda kv: -len(kv[1]))]
            out += ["", "Notes are what reading each failure showed; *drawnet:* marks an "
                    "input drawnet does not make.", "",
                    "| model | class | reason | real CPU run | note |", "|---|---|---|---|---|"]
            for r in sorted(fails, key=lambda r: (list(CLASSES).index(r["kind"])
                                                   if r["kind"] in CLASSES else 99, r["item"])):
                real = r.get("real_run", "")
                if real == "fail":
                    real = f"fails: {r.get('real_error', '')[:160]}"
                elif real == "replayed":
                    real = (f"not run ({r.get('params_small', r.get('params', 0)):,} "
                            "parameters); the failing op, replayed on CPU, raises too")
                elif real == "ok":
                    real = f"runs; drawing the real model: {r.get('real_draw', '?')[:120]}"
                reason = r.get("error", "").replace("|", "\\|")[:220]
                note = NOTES.get(r["item"], "")
                if note.startswith("drawnet:"):
                    note = "*drawnet:*" + note.removeprefix("drawnet:")
                out.append(f"| `{r['item']}` | {r['kind']} | {reason} | "
                           f"{real.replace('|', '/')} | {note} |")
            out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="", help="comma-separated model types / timm:names")
    p.add_argument("--hf-only", action="store_true")
    p.add_argument("--timm-only", action="store_true")
    p.add_argument("--chunk", type=int, default=40, help="models per worker process")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per attempt")
    p.add_argument("--real-limit", type=int, default=400_000_000,
                   help="largest model (params) built for real to check a failure")
    p.add_argument("--out", default=str(HERE / "zoo_by_name.md"))
    p.add_argument("--json", default=str(HERE / "zoo_by_name.json"))
    p.add_argument("--partial", default=str(HERE / ".zoo_by_name.partial.jsonl"))
    p.add_argument("--no-write", action="store_true", help="print, do not rewrite the report")
    p.add_argument("--replot", action="store_true", help="rewrite the .md from the .json")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.only.split(","), Path(args.partial), args.timeout, args.real_limit)
        return 0
    if args.replot:
        data = json.loads(Path(args.json).read_text(encoding="utf-8"))
        Path(args.out).write_text(report(data["results"], data["meta"]), encoding="utf-8")
        return 0
    if args.only:
        items = [i.strip() for i in args.only.split(",") if i.strip()]
    else:
        items = ([] if args.timm_only else hf_items()) + ([] if args.hf_only else
                                                           timm_items())
    import timm
    import torch
    import transformers

    meta = {"date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "torch": torch.__version__, "transformers": transformers.__version__,
            "timm": timm.__version__}
    start = time.perf_counter()
    results = drive(items, args)
    meta["wall_s"] = round(time.perf_counter() - start, 1)
    text = report(results, meta)
    if args.no_write:
        print(text)
    else:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1)
                                   + "\n", encoding="utf-8")
        Path(args.out).write_text(text, encoding="utf-8")
        print(text.split("\n## ")[1][:2000] if "\n## " in text else text)
    if not args.no_write:
        Path(args.partial).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.exit(130)
