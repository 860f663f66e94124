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


def _models() -> list[ZooModel]:
    T, M = "text", "text-mask"
    return [
        # encoders
        ZooModel("bert", T, _hf("BertModel", "BertConfig", **SMALL), _text()),
        ZooModel("bert+mask", M, _hf("BertModel", "BertConfig", **SMALL), _text(True)),
        ZooModel("roberta", M, _hf("RobertaModel", "RobertaConfig", **SMALL,
                                   max_position_embeddings=128), _text(True)),
        ZooModel("distilbert", M, _hf("DistilBertModel", "DistilBertConfig", dim=64, n_layers=2,
                                      n_heads=4, hidden_dim=128, vocab_size=100), _text(True)),
        ZooModel("albert", M, _hf("AlbertModel", "AlbertConfig", **SMALL, embedding_size=32),
                 _text(True)),
        ZooModel("electra", M, _hf("ElectraModel", "ElectraConfig", **SMALL, embedding_size=32),
                 _text(True)),
        ZooModel("deberta", M, _hf("DebertaModel", "DebertaConfig", **SMALL), _text(True)),
        ZooModel("deberta-v2", M, _hf("DebertaV2Model", "DebertaV2Config", **SMALL),
                 _text(True)),
        ZooModel("big_bird", M, _hf("BigBirdModel", "BigBirdConfig", **SMALL,
                                    attention_type="block_sparse", block_size=4,
                                    num_random_blocks=2), _text(True, 64)),
        ZooModel("mpnet", M, _hf("MPNetModel", "MPNetConfig", **SMALL), _text(True)),
        ZooModel("funnel", M, _hf("FunnelModel", "FunnelConfig", block_sizes=[1, 1], d_model=64,
                                  n_head=4, d_head=16, d_inner=128, vocab_size=100),
                 _text(True)),
        ZooModel("xlnet", M, _hf("XLNetModel", "XLNetConfig", d_model=64, n_layer=2, n_head=4,
                                 d_inner=128, vocab_size=100), _text(True)),
        ZooModel("longformer", M, _hf("LongformerModel", "LongformerConfig", **SMALL,
                                      attention_window=8), _text(True)),
        # decoders
        ZooModel("gpt2", T, _hf("GPT2Model", "GPT2Config", n_embd=64, n_layer=2, n_head=4,
                                vocab_size=100), _text()),
        ZooModel("gpt2+mask", M, _hf("GPT2Model", "GPT2Config", n_embd=64, n_layer=2, n_head=4,
                                     vocab_size=100), _text(True)),
        ZooModel("gpt_neo", M, _hf("GPTNeoModel", "GPTNeoConfig", hidden_size=64, num_layers=2,
                                   num_heads=4, attention_types=[[["global", "local"], 1]],
                                   vocab_size=100, window_size=8), _text(True)),
        ZooModel("opt", M, _hf("OPTModel", "OPTConfig", hidden_size=64, num_hidden_layers=2,
                               num_attention_heads=4, ffn_dim=128, vocab_size=100,
                               word_embed_proj_dim=64), _text(True)),
        ZooModel("bloom", M, _hf("BloomModel", "BloomConfig", hidden_size=64, n_layer=2,
                                 n_head=4, vocab_size=100), _text(True)),
        ZooModel("llama", M, _hf("LlamaModel", "LlamaConfig", **DECODER), _text(True)),
        ZooModel("mistral", M, _hf("MistralModel", "MistralConfig", **DECODER,
                                   sliding_window=16), _text(True)),
        ZooModel("qwen2", M, _hf("Qwen2Model", "Qwen2Config", **DECODER), _text(True)),
        ZooModel("phi", M, _hf("PhiModel", "PhiConfig", **DECODER), _text(True)),
        ZooModel("gemma", M, _hf("GemmaModel", "GemmaConfig", **DECODER, head_dim=16),
                 _text(True)),
        ZooModel("falcon", M, _hf("FalconModel", "FalconConfig", hidden_size=64,
                                  num_hidden_layers=2, num_attention_heads=4, vocab_size=100),
                 _text(True)),
        ZooModel("gptj", M, _hf("GPTJModel", "GPTJConfig", n_embd=64, n_layer=2, n_head=4,
                                rotary_dim=8, vocab_size=100), _text(True)),
        # mixture of experts
        ZooModel("mixtral", "moe", _hf("MixtralModel", "MixtralConfig", **MOE), _text()),
        ZooModel("qwen2_moe", "moe", _hf("Qwen2MoeModel", "Qwen2MoeConfig", **DECODER,
                                         num_experts=4, num_experts_per_tok=2,
                                         moe_intermediate_size=64,
                                         shared_expert_intermediate_size=64), _text()),
        # encoder-decoders
        ZooModel("t5", "seq2seq", _hf("T5Model", "T5Config", d_model=64, d_ff=128, num_layers=2,
                                      num_heads=4, d_kv=16, vocab_size=100,
                                      decoder_start_token_id=0), _seq2seq),
        ZooModel("bart", "seq2seq", _hf("BartModel", "BartConfig", **SEQ2SEQ), _text()),
        ZooModel("mbart", "seq2seq", _hf("MBartModel", "MBartConfig", **SEQ2SEQ), _text()),
        ZooModel("pegasus", "seq2seq", _hf("PegasusModel", "PegasusConfig", **SEQ2SEQ),
                 _seq2seq),
        ZooModel("marian", "seq2seq", _hf("MarianModel", "MarianConfig", **SEQ2SEQ), _seq2seq),
        # vision and multimodal
        ZooModel("vit", "vision", _hf("ViTModel", "ViTConfig", **VIT), _pixels(64)),
        ZooModel("deit", "vision", _hf("DeiTModel", "DeiTConfig", **VIT), _pixels(64)),
        ZooModel("swin", "vision", _hf("SwinModel", "SwinConfig", image_size=64, patch_size=4,
                                       embed_dim=32, depths=[1, 1], num_heads=[2, 4],
                                       window_size=4), _pixels(64)),
        ZooModel("convnext", "vision", _hf("ConvNextModel", "ConvNextConfig",
                                           hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1]),
                 _pixels(64)),
        ZooModel("segformer", "vision", _hf("SegformerModel", "SegformerConfig",
                                            hidden_sizes=[16, 32, 64, 128],
                                            depths=[1, 1, 1, 1]), _pixels(64)),
        ZooModel("detr", "vision", _detr, _pixels(64)),
        ZooModel("clip", "vision", _clip, _clip_inputs),
        # audio
        ZooModel("wav2vec2", "audio", _hf("Wav2Vec2Model", "Wav2Vec2Config", **SMALL,
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
        ZooModel("timm/resnet18", "timm", _timm("resnet18"), _pixels(64, "x")),
        ZooModel("timm/efficientnet_b0", "timm", _timm("efficientnet_b0"), _pixels(64, "x")),
        ZooModel("timm/mobilenetv3_small_100", "timm", _timm("mobilenetv3_small_100"),
                 _pixels(64, "x")),
        ZooModel("timm/vit_tiny_patch16_224", "timm", _timm("vit_tiny_patch16_224",
                                                             img_size=64), _pixels(64, "x")),
        ZooModel("timm/deit_tiny_patch16_224", "timm", _timm("deit_tiny_patch16_224",
                                                              img_size=64), _pixels(64, "x")),
        ZooModel("timm/convnext_atto", "timm", _timm("convnext_atto"), _pixels(64, "x")),
        ZooModel("timm/swin_tiny_patch4_window7_224", "timm",
                 _timm("swin_tiny_patch4_window7_224", img_size=64, window_size=2),
                 _pixels(64, "x")),
        ZooModel("timm/regnetx_002", "timm", _timm("regnetx_002"), _pixels(64, "x")),
        ZooModel("timm/mixer_s16_224", "timm", _timm("mixer_s16_224", img_size=64),
                 _pixels(64, "x")),
        ZooModel("timm/levit_128s", "timm", _timm("levit_128s", img_size=64), _pixels(64, "x")),
        ZooModel("timm/sequencer2d_s", "timm", _timm("sequencer2d_s"), _pixels(64, "x")),
        ZooModel("timm/poolformer_s12", "timm", _timm("poolformer_s12"), _pixels(64, "x")),
        ZooModel("timm/ghostnet_100", "timm", _timm("ghostnet_100"), _pixels(64, "x")),
        ZooModel("timm/maxvit_nano_rw_256", "timm", _timm("maxvit_nano_rw_256", img_size=64),
                 _pixels(64, "x")),
        ZooModel("timm/cait_xxs24_224", "timm", _timm("cait_xxs24_224", img_size=64),
                 _pixels(64, "x")),
        ZooModel("timm/coat_lite_tiny", "timm", _timm("coat_lite_tiny", img_size=64),
                 _pixels(64, "x")),
    ]


ZOO: dict[str, ZooModel] = {m.name: m for m in _models()}
