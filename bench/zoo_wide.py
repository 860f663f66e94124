"""A wide zoo of transformers and timm models for ``bench/run.py --zoo``.

Each entry builds a small member of one family (two to four blocks, narrow widths, random
weights, nothing downloaded) and gives the inputs drawnet, torchview and torchinfo are
called with. Small configs keep the zoo run to minutes on two cores while every family
still runs its own code: attention masks, relative positions, ``.item()`` calls,
mixture-of-experts routing, recurrences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOKENS = 32


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str  # "text", "text-mask", "seq2seq", "vision", "audio", "moe", "timm"
    build: Callable[[], Any]
    inputs: Callable[[], dict[str, Any]] = field(default=lambda: {})

    def data(self) -> dict[str, Any]:
        """Keyword tensors for ``forward`` (drawnet's ``input_data``)."""
        return self.inputs()


def _ids(n: int = TOKENS, vocab: int = 100) -> Any:
    import torch

    g = torch.Generator().manual_seed(0)
    return torch.randint(3, vocab, (1, n), generator=g)


def _text(mask: bool = False, n: int = TOKENS) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        import torch

        out = {"input_ids": _ids(n)}
        if mask:
            m = torch.ones(1, n, dtype=torch.long)
            m[0, -4:] = 0  # right padding: a real mask, not all ones
            out["attention_mask"] = m
        return out

    return make


def _seq2seq(n: int = TOKENS) -> dict[str, Any]:
    return {"input_ids": _ids(n), "decoder_input_ids": _ids(n // 2)}


def _pixels(size: int = 64, key: str = "pixel_values") -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        import torch

        g = torch.Generator().manual_seed(0)
        return {key: torch.randn(1, 3, size, size, generator=g)}

    return make


def _hf(cls: str, config: str, **kw: Any) -> Callable[[], Any]:
    def build() -> Any:
        import transformers

        return getattr(transformers, cls)(getattr(transformers, config)(**kw)).eval()

    return build


def _timm(name: str, **kw: Any) -> Callable[[], Any]:
    def build() -> Any:
        import timm

        return timm.create_model(name, pretrained=False, **kw).eval()

    return build


SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 128, "vocab_size": 100}
DECODER = {**SMALL, "num_key_value_heads": 2, "max_position_embeddings": 128}
SEQ2SEQ = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2,
           "encoder_attention_heads": 4, "decoder_attention_heads": 4,
           "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "vocab_size": 100,
           "max_position_embeddings": 128, "pad_token_id": 1, "decoder_start_token_id": 2}
SEQ2SEQ3 = {**SEQ2SEQ, "encoder_layers": 3, "decoder_layers": 3}
VIT = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
       "intermediate_size": 128, "image_size": 64, "patch_size": 8}


def _detr() -> Any:
    import transformers

    cfg = transformers.DetrConfig(
        use_timm_backbone=False, use_pretrained_backbone=False,
        backbone_config=transformers.ResNetConfig(depths=[1, 1, 1, 1],
                                                  hidden_sizes=[16, 32, 64, 128],
                                                  embedding_size=16,
                                                  out_features=["stage4"]),
        d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, num_queries=10)
    return transformers.DetrModel(cfg).eval()


def _clip() -> Any:
    import transformers

    cfg = transformers.CLIPConfig(
        text_config={"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "intermediate_size": 128, "vocab_size": 100},
        vision_config={**VIT}, projection_dim=32)
    return transformers.CLIPModel(cfg).eval()


def _clip_inputs() -> dict[str, Any]:
    return {**_text(mask=True)(), **_pixels(64)()}


def _whisper_inputs() -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    return {"input_features": torch.randn(1, 16, 64, generator=g),
            "decoder_input_ids": _ids(8)}


def _audio_values() -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    return {"input_values": torch.randn(1, 4000, generator=g)}


MOE = {**DECODER, "num_local_experts": 4, "num_experts_per_tok": 2}


def _layers(n: int, base: dict[str, Any]) -> dict[str, Any]:
    return {**base, "num_hidden_layers": n}


def _models() -> list[ZooModel]:
    T, M = "text", "text-mask"
    return [
        # encoders
        ZooModel("bert", T, _hf("BertModel", "BertConfig", **_layers(8, SMALL)), _text()),
        ZooModel("bert+mask", M, _hf("BertModel", "BertConfig", **_layers(6, SMALL)),
                 _text(True)),
        ZooModel("roberta", M, _hf("RobertaModel", "RobertaConfig", **_layers(5, SMALL),
                                   max_position_embeddings=128), _text(True)),
        ZooModel("distilbert", M, _hf("DistilBertModel", "DistilBertConfig", dim=64, n_layers=6,
                                      n_heads=4, hidden_dim=128, vocab_size=100), _text(True)),
        ZooModel("albert", M, _hf("AlbertModel", "AlbertConfig", **_layers(5, SMALL),
                                  embedding_size=32), _text(True)),
        ZooModel("electra", M, _hf("ElectraModel", "ElectraConfig", **_layers(6, SMALL),
                                   embedding_size=32), _text(True)),
        ZooModel("deberta", M, _hf("DebertaModel", "DebertaConfig", **_layers(4, SMALL)),
                 _text(True)),
        ZooModel("deberta-v2", M, _hf("DebertaV2Model", "DebertaV2Config", **_layers(4, SMALL)),
                 _text(True)),
        ZooModel("big_bird", M, _hf("BigBirdModel", "BigBirdConfig", **_layers(1, SMALL),
                                    attention_type="block_sparse", block_size=4,
                                    num_random_blocks=2), _text(True, 64)),
        ZooModel("mpnet", M, _hf("MPNetModel", "MPNetConfig", **_layers(4, SMALL)), _text(True)),
        ZooModel("funnel", M, _hf("FunnelModel", "FunnelConfig", block_sizes=[1, 1], d_model=64,
                                  n_head=4, d_head=16, d_inner=128, vocab_size=100),
                 _text(True)),
        ZooModel("xlnet", M, _hf("XLNetModel", "XLNetConfig", d_model=64, n_layer=4, n_head=4,
                                 d_inner=128, vocab_size=100), _text(True)),
        ZooModel("longformer", M, _hf("LongformerModel", "LongformerConfig", **_layers(2, SMALL),
                                      attention_window=8), _text(True)),
        # decoders
        ZooModel("gpt2", T, _hf("GPT2Model", "GPT2Config", n_embd=64, n_layer=5, n_head=4,
                                vocab_size=100), _text()),
        ZooModel("gpt2+mask", M, _hf("GPT2Model", "GPT2Config", n_embd=64, n_layer=4, n_head=4,
                                     vocab_size=100), _text(True)),
        ZooModel("gpt_neo", M, _hf("GPTNeoModel", "GPTNeoConfig", hidden_size=64, num_layers=4,
                                   num_heads=4, attention_types=[[["global", "local"], 2]],
                                   vocab_size=100, window_size=8), _text(True)),
        ZooModel("opt", M, _hf("OPTModel", "OPTConfig", hidden_size=64, num_hidden_layers=5,
                               num_attention_heads=4, ffn_dim=128, vocab_size=100,
                               word_embed_proj_dim=64), _text(True)),
        ZooModel("bloom", M, _hf("BloomModel", "BloomConfig", hidden_size=64, n_layer=4,
                                 n_head=4, vocab_size=100), _text(True)),
        ZooModel("llama", M, _hf("LlamaModel", "LlamaConfig", **_layers(3, DECODER)), _text(True)),
        ZooModel("mistral", M, _hf("MistralModel", "MistralConfig", **_layers(3, DECODER),
                                   sliding_window=16), _text(True)),
        ZooModel("qwen2", M, _hf("Qwen2Model", "Qwen2Config", **_layers(3, DECODER)), _text(True)),
        ZooModel("phi", M, _hf("PhiModel", "PhiConfig", **_layers(3, DECODER)), _text(True)),
        ZooModel("gemma", M, _hf("GemmaModel", "GemmaConfig", **_layers(3, DECODER), head_dim=16),
                 _text(True)),
        ZooModel("falcon", M, _hf("FalconModel", "FalconConfig", hidden_size=64,
                                  num_hidden_layers=4, num_attention_heads=4, vocab_size=100),
                 _text(True)),
        ZooModel("gptj", M, _hf("GPTJModel", "GPTJConfig", n_embd=64, n_layer=3, n_head=4,
                                rotary_dim=8, vocab_size=100), _text(True)),
        # mixture of experts
        ZooModel("mixtral", "moe", _hf("MixtralModel", "MixtralConfig", **_layers(2, MOE)),
                 _text()),
        ZooModel("qwen2_moe", "moe", _hf("Qwen2MoeModel", "Qwen2MoeConfig",
                                         **_layers(2, DECODER), num_experts=4,
                                         num_experts_per_tok=2, moe_intermediate_size=64,
                                         shared_expert_intermediate_size=64), _text()),
        # encoder-decoders
        ZooModel("t5", "seq2seq", _hf("T5Model", "T5Config", d_model=64, d_ff=128, num_layers=2,
                                      num_heads=4, d_kv=16, vocab_size=100,
                                      decoder_start_token_id=0), _seq2seq),
        ZooModel("bart", "seq2seq", _hf("BartModel", "BartConfig", **SEQ2SEQ), _text()),
        ZooModel("mbart", "seq2seq", _hf("MBartModel", "MBartConfig", **SEQ2SEQ), _text()),
        ZooModel("pegasus", "seq2seq", _hf("PegasusModel", "PegasusConfig", **SEQ2SEQ3),
                 _seq2seq),
        ZooModel("marian", "seq2seq", _hf("MarianModel", "MarianConfig", **SEQ2SEQ3), _seq2seq),
        # vision and multimodal
        ZooModel("vit", "vision", _hf("ViTModel", "ViTConfig", **_layers(8, VIT)), _pixels(64)),
        ZooModel("deit", "vision", _hf("DeiTModel", "DeiTConfig", **_layers(8, VIT)), _pixels(64)),
        ZooModel("swin", "vision", _hf("SwinModel", "SwinConfig", image_size=64, patch_size=4,
                                       embed_dim=32, depths=[2, 2], num_heads=[2, 4],
                                       window_size=4), _pixels(64)),
        ZooModel("convnext", "vision", _hf("ConvNextModel", "ConvNextConfig",
                                           hidden_sizes=[16, 32, 64, 128], depths=[2, 2, 4, 2]),
                 _pixels(64)),
        ZooModel("segformer", "vision", _hf("SegformerModel", "SegformerConfig",
                                            hidden_sizes=[16, 32, 64, 128],
                                            depths=[1, 1, 1, 1]), _pixels(64)),
        ZooModel("detr", "vision", _detr, _pixels(64)),
        ZooModel("clip", "vision", _clip, _clip_inputs),
        # audio
        ZooModel("wav2vec2", "audio", _hf("Wav2Vec2Model", "Wav2Vec2Config", **_layers(6, SMALL),
                                          conv_dim=(32, 32), conv_stride=(5, 2),
                                          conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                                          num_conv_pos_embedding_groups=4), _audio_values),
        ZooModel("whisper", "audio", _hf("WhisperModel", "WhisperConfig", d_model=64,
                                         encoder_layers=2, decoder_layers=2,
                                         encoder_attention_heads=4, decoder_attention_heads=4,
                                         encoder_ffn_dim=128, decoder_ffn_dim=128,
                                         num_mel_bins=16, max_source_positions=32,
                                         max_target_positions=64, vocab_size=100,
                                         pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                         decoder_start_token_id=0), _whisper_inputs),
        # timm
        ZooModel("timm/resnet50", "timm", _timm("resnet50"), _pixels(64, "x")),
        ZooModel("timm/efficientnet_b0", "timm", _timm("efficientnet_b0"), _pixels(64, "x")),
        ZooModel("timm/mobilenetv3_small_100", "timm", _timm("mobilenetv3_small_100"),
                 _pixels(64, "x")),
        ZooModel("timm/vit_tiny_patch16_224", "timm",
                 _timm("vit_tiny_patch16_224", img_size=64, depth=6), _pixels(64, "x")),
        ZooModel("timm/deit_tiny_patch16_224", "timm",
                 _timm("deit_tiny_patch16_224", img_size=64, depth=6), _pixels(64, "x")),
        ZooModel("timm/convnext_atto", "timm", _timm("convnext_atto"), _pixels(64, "x")),
        ZooModel("timm/swin_tiny_patch4_window7_224", "timm",
                 _timm("swin_tiny_patch4_window7_224", img_size=64, window_size=2,
                       depths=(1, 1, 2, 1)), _pixels(64, "x")),
        ZooModel("timm/regnetx_002", "timm", _timm("regnetx_002"), _pixels(64, "x")),
        ZooModel("timm/mixer_s16_224", "timm", _timm("mixer_s16_224", img_size=64),
                 _pixels(64, "x")),
        ZooModel("timm/levit_128s", "timm", _timm("levit_128s", img_size=64), _pixels(64, "x")),
        ZooModel("timm/sequencer2d_s", "timm", _timm("sequencer2d_s", layers=(2, 2, 4, 2)),
                 _pixels(64, "x")),
        ZooModel("timm/poolformer_s12", "timm", _timm("poolformer_s12"), _pixels(64, "x")),
        ZooModel("timm/ghostnet_100", "timm", _timm("ghostnet_100"), _pixels(64, "x")),
        ZooModel("timm/maxvit_nano_rw_256", "timm", _timm("maxvit_nano_rw_256", img_size=64),
                 _pixels(64, "x")),
        ZooModel("timm/cait_xxs24_224", "timm", _timm("cait_xxs24_224", img_size=64, depth=8),
                 _pixels(64, "x")),
        ZooModel("timm/coat_lite_tiny", "timm", _timm("coat_lite_tiny", img_size=64),
                 _pixels(64, "x")),
    ]


ZOO: dict[str, ZooModel] = {m.name: m for m in _models()}


# --------------------------------------------------------------------------- the zoo run

P90_TARGET = 2.0  # the zoo's p90 draw time within this factor of its p50


def run_zoo(names: list[str] | None = None, repeats: int = 3,
            log: Callable[..., None] = print) -> dict[str, Any]:
    """Draw every zoo model to SVG with drawnet and with torchview, alternating (median of
    ``repeats`` after a warm-up), and note the tracer drawnet used and why."""
    import copy
    import statistics

    import measure
    import torchview

    import drawnet

    rows = []
    for name in names or list(ZOO):
        z = ZOO[name]
        model = z.build()
        peer = copy.deepcopy(model)
        data = z.data()
        graph = drawnet.trace_model(model, input_data=data)
        calls: dict[str, Callable[[], Any]] = {
            "drawnet": lambda m=model, d=data: drawnet.draw_model(m, input_data=d).pipe("svg"),
            "trace": lambda m=model, d=data: drawnet.trace_model(m, input_data=d)}
        row: dict[str, Any] = {
            "model": name, "family": z.family, "ops": len(graph.nodes),
            "tracer": graph.get_meta("tracer"),
            "fallback": [v for k, v in graph.meta if k == "fallback"],
            "notes": [v for k, v in graph.meta if k == "note"],
        }
        try:
            _ = torchview.draw_graph(peer, input_data=data).visual_graph.source
            calls["torchview"] = lambda m=peer, d=data: torchview.draw_graph(
                m, input_data=d).visual_graph.pipe(format="svg")
        except Exception as e:
            row["torchview_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
        samples = measure.alternate(calls, repeats)
        row["wall"] = {k: measure.median_wall(v) for k, v in samples.items()}
        rows.append(row)
        tv = row["wall"].get("torchview")
        peer_text = f"torchview {tv:.3f} s" if tv else f"torchview fails ({row['torchview_error']})"
        log(f"  {name:34s} {row['tracer']:6s} drawnet {row['wall']['drawnet']:.3f} s, {peer_text}")
        del model, peer
    times = sorted(r["wall"]["drawnet"] for r in rows)
    traces = sorted(r["wall"]["trace"] for r in rows)
    ratios = [r["wall"]["drawnet"] / r["wall"]["torchview"] for r in rows
              if "torchview" in r["wall"]]
    tracers: dict[str, int] = {}
    for r in rows:
        tracers[r["tracer"]] = tracers.get(r["tracer"], 0) + 1
    return {
        "repeats": repeats, "rows": rows, "p50": statistics.median(times), "p90": _p90(times),
        "max": times[-1], "trace_p50": statistics.median(traces), "trace_p90": _p90(traces),
        "trace_max": traces[-1], "tracers": tracers,
        "torchview_ratio_median": statistics.median(ratios) if ratios else None,
        "torchview_works": len(ratios),
    }


def _p90(sorted_times: list[float]) -> float:
    import statistics

    if len(sorted_times) < 2:
        return sorted_times[0]
    return statistics.quantiles(sorted_times, n=10, method="inclusive")[-1]


def target_rows(res: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) rows for the zoo."""
    n = len(res["rows"])
    off = [r for r in res["rows"] if r["tracer"] != "meta"]
    ratio = res["p90"] / res["p50"]
    rows = [
        (f"p90 ≤ {P90_TARGET:g}× p50 of draw_model → SVG ({n} models)",
         f"{res['p90']:.3f} s / {res['p50']:.3f} s = {ratio:.2f}×", ratio <= P90_TARGET)]
    if "trace_p50" in res:
        t_ratio = res["trace_p90"] / res["trace_p50"]
        rows.append((f"p90 ≤ {P90_TARGET:g}× p50 of the trace alone ({n} models)",
                     f"{res['trace_p90']:.3f} s / {res['trace_p50']:.3f} s = {t_ratio:.2f}×",
                     t_ratio <= P90_TARGET))
    med = res.get("torchview_ratio_median")
    if med is not None:
        rows.append((f"median drawnet / torchview < 1× ({res['torchview_works']} models "
                     "torchview draws)", f"{med:.2f}×", med < 1.0))
    return [
        *rows,
        ("every model on the no-compute meta tracer (no export fallback)",
         f"{n - len(off)} of {n}" + (": " + "; ".join(
             f"{r['model']} → {r['tracer']} ({'; '.join(r['fallback'])})" for r in off)
             if off else ""), not off),
    ]


def tables(res: dict[str, Any]) -> list[str]:
    """Markdown: the summary line and one row per model."""
    mix = ", ".join(f"{k} {v}" for k, v in sorted(res["tracers"].items()))
    med = res["torchview_ratio_median"]
    out = [
        f"{len(res['rows'])} models, drawnet `draw_model(...).pipe('svg')` against torchview "
        f"`draw_graph(...).visual_graph.pipe(format='svg')`, median of {res['repeats']} "
        "alternating runs after a warm-up, one torch thread. Each model is a small member of "
        "its family (2-8 blocks, widths of 32-256, random weights), sized to about 100-700 "
        "traced ops so that the spread of times shows the path each family takes through "
        "the tracer rather than the size of the model.", "",
        f"drawnet, call to SVG: p50 {res['p50']:.3f} s, p90 {res['p90']:.3f} s, max "
        f"{res['max']:.3f} s" + (
            f"; the trace alone: p50 {res['trace_p50']:.3f} s, p90 {res['trace_p90']:.3f} s, "
            f"max {res['trace_max']:.3f} s" if "trace_p50" in res else "")
        + f"; tracers: {mix}. torchview draws {res['torchview_works']} of "
        f"{len(res['rows'])}; " + (f"median drawnet / torchview {med:.2f}×." if med else ""),
        "", "| model | family | ops | tracer | trace | drawnet (to SVG) | torchview | ratio "
        "| what the trace read or assumed |", "|---|---|--:|---|--:|--:|--:|--:|---|"]
    for r in res["rows"]:
        w = r["wall"]
        tv = w.get("torchview")
        said = "; ".join(_short(n) for n in r["notes"] + r["fallback"]) or "–"
        peer = f"{tv:.3f}" if tv else "fails"
        ratio = f"{w['drawnet'] / tv:.2f}×" if tv else "–"
        trace = f"{w['trace']:.3f}" if "trace" in w else "–"
        out.append(f"| {r['model']} | {r['family']} | {r['ops']} | {r['tracer']} | {trace} "
                   f"| {w['drawnet']:.3f} | {peer} | {ratio} | {said} |")
    fails = [f"{r['model']}: {r['torchview_error']}" for r in res["rows"]
             if "torchview_error" in r]
    if fails:
        out += ["", "torchview fails on " + "; ".join(fails) + "."]
    return out


def _short(note: str) -> str:
    """A note cut to its first clause, for a table cell."""
    if note.startswith("forward read"):
        text = note.split(")")[0] + ")"
    elif note.startswith("mixture"):
        text = "mixture of experts (MACs per routed token)"
    else:
        text = note.split(":")[0]
    return text.replace("|", "/")[:100]


if __name__ == "__main__":
    import os
    import sys
    from pathlib import Path

    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import warnings

    import measure

    warnings.filterwarnings("ignore")
    measure.one_thread()
    result = run_zoo(sys.argv[1:] or None)
    print("\n".join(tables(result)))
    for text, value, ok in target_rows(result):
        print(f"{'met' if ok else 'MISSED'}: {text}: {value}")
