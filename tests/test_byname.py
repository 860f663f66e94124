"""Models drawn by name (``hf:``, ``timm:``) and with inputs inferred from their config.

Configs are real transformers configs saved to folders (``save_pretrained``) and read
back by transformers itself; models are built on the meta device. Layer counts are small
to keep the tests quick; what is checked is drawnet's behaviour: which inputs it made,
that they are shown, that the totals match the model's own parameter count.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

import drawnet
from drawnet.errors import InputError, MissingDependencyError, OptionError, SourceError
from drawnet.trace.hub import TASKS, load_hf, load_named, load_timm
from drawnet.trace.infer import infer_inputs

T: Any = transformers


def _meta(build: Callable[[], Any]) -> Any:
    with torch.device("meta"):
        return build().eval()


BUILDERS: dict[str, Callable[[], Any]] = {
    "bert": lambda: T.BertModel(T.BertConfig(num_hidden_layers=2)),
    "clip": lambda: T.CLIPModel(T.CLIPConfig(text_config={"num_hidden_layers": 1},
                                             vision_config={"num_hidden_layers": 1})),
    "t5": lambda: T.T5ForConditionalGeneration(T.T5Config(num_layers=1,
                                                          num_decoder_layers=1)),
    "wav2vec2": lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(num_hidden_layers=1)),
}


def _input_nodes(graph: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    return {n.label: (n.outputs[0].shape, n.outputs[0].dtype)
            for n in graph.nodes if n.kind == "input"}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_draw_and_summary_need_no_inputs(name: str) -> None:
    model = _meta(BUILDERS[name])
    own = sum(p.numel() for p in model.parameters())
    s = drawnet.summary(model)
    assert s.total_params == own
    d = drawnet.draw_model(model)
    assert d.graph.totals.params == own
    inputs = _input_nodes(d.graph)
    described = d.graph.get_meta("inputs")
    for label, (shape, _) in inputs.items():  # the input nodes are the ones described
        assert f"{label} {'×'.join(map(str, shape))}" in described
    assert str(s).startswith("Inputs")
    assert described in str(s).splitlines()[0]


def test_inputs_follow_the_config_of_each_modality() -> None:
    clip = _meta(BUILDERS["clip"])
    inputs = _input_nodes(drawnet.draw_model(clip).graph)
    vision, text = clip.config.vision_config, clip.config.text_config
    assert inputs["pixel_values"][0] == (1, vision.num_channels, vision.image_size,
                                         vision.image_size)
    assert inputs["input_ids"] == ((1, text.max_position_embeddings), "int64")

    t5 = _meta(BUILDERS["t5"])
    assert set(_input_nodes(drawnet.draw_model(t5).graph)) == {"input_ids",
                                                               "decoder_input_ids"}

    w2v = _meta(BUILDERS["wav2vec2"])  # one second at the default 16 kHz
    assert _input_nodes(drawnet.draw_model(w2v).graph) == {
        "input_values": ((1, 16_000), "float32")}


def test_whisper_gets_its_encoder_window_and_decoder_ids() -> None:
    config = T.WhisperConfig(encoder_layers=1, decoder_layers=1)
    model = _meta(lambda: T.WhisperForConditionalGeneration(config))
    inputs = _input_nodes(drawnet.draw_model(model).graph)
    assert inputs["input_features"] == (
        (1, config.num_mel_bins, 2 * config.max_source_positions), "float32")
    assert inputs["decoder_input_ids"][1] == "int64"


def test_seq_len_overrides_the_token_count() -> None:
    model = _meta(BUILDERS["bert"])
    g = drawnet.trace_model(model, seq_len=16)
    assert _input_nodes(g)["input_ids"] == ((1, 16), "int64")
    assert "input_ids 1×16 int64" in str(drawnet.summary(model, seq_len=16))
    with pytest.raises(OptionError, match="seq_len"):
        drawnet.draw_model(model, [1, 8], dtypes="long", seq_len=16)
    with pytest.raises(OptionError, match="positive"):
        drawnet.draw_model(model, seq_len=0)


def test_seq_len_is_refused_for_a_model_without_tokens() -> None:
    with pytest.raises(OptionError, match="input_values"):
        drawnet.draw_model(_meta(BUILDERS["wav2vec2"]), seq_len=16)


def test_given_tensors_replace_the_inferred_ones() -> None:
    model = _meta(BUILDERS["bert"])
    mask = torch.ones(1, 128, dtype=torch.long)
    inputs = _input_nodes(drawnet.trace_model(model, kwargs={"attention_mask": mask}))
    assert set(inputs) == {"input_ids", "attention_mask"}


def test_vision_language_model_falls_back_to_text_with_a_note() -> None:
    config = T.LlavaConfig(text_config={"model_type": "llama", "num_hidden_layers": 1,
                                        "hidden_size": 64, "intermediate_size": 128,
                                        "num_attention_heads": 2, "num_key_value_heads": 2},
                           vision_config={"num_hidden_layers": 1})
    model = _meta(lambda: T.LlavaModel(config))
    d = drawnet.draw_model(model)
    assert set(_input_nodes(d.graph)) == {"input_ids"}
    assert any("pixel_values" in n and "input_ids only" in n for n in d.notes)


def test_a_real_model_gets_real_values_on_its_device() -> None:
    model = T.BertModel(T.BertConfig(num_hidden_layers=1, hidden_size=32,
                                     intermediate_size=64, num_attention_heads=2)).eval()
    g = drawnet.trace_model(model, tracer="eager")
    assert _input_nodes(g)["input_ids"] == ((1, 128), "int64")
    ids = infer_inputs(model).guesses[0].tensors[0][1]
    assert ids.device.type == "cpu"
    special = {model.config.pad_token_id, getattr(model.config, "bos_token_id", None)}
    assert int(ids[0, 0]) not in special


def test_bfloat16_model_gets_bfloat16_pixels() -> None:
    config = T.ViTConfig(num_hidden_layers=1, dtype="bfloat16")
    with torch.device("meta"):
        model = T.ViTModel._from_config(config).eval()
    assert _input_nodes(drawnet.trace_model(model))["pixel_values"][1] == "bfloat16"


def test_timm_model_uses_its_pretrained_cfg() -> None:
    model = load_timm("resnet18.a1_in1k")
    size = tuple(model.pretrained_cfg["input_size"])
    d = drawnet.draw_model(model)
    assert next(iter(_input_nodes(d.graph).values()))[0] == (1, *size)
    with pytest.raises(SourceError, match="did you mean 'resnet18'"):
        load_timm("resnet_18")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)), "input_size=[1, 3, 224, 224]"),
        (torch.nn.Sequential(torch.nn.Embedding(50, 8)), "--input 1,16 --dtype long"),
        (torch.nn.Linear(7, 2), "--input 1,7"),
    ],
)
def test_other_models_are_told_what_to_pass(model: Any, message: str) -> None:
    with pytest.raises(InputError, match="no inputs given") as info:
        drawnet.draw_model(model)
    assert message in str(info.value)


# -- hf: specs -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("configs")
    made = {
        "bert": T.BertConfig(num_hidden_layers=2, architectures=["BertForMaskedLM"]),
        "bare": T.BertConfig(num_hidden_layers=1),
        "clip": T.CLIPConfig(text_config={"num_hidden_layers": 1},
                             vision_config={"num_hidden_layers": 1}),
        "whisper": T.WhisperConfig(encoder_layers=1, decoder_layers=1,
                                   architectures=["WhisperForConditionalGeneration"]),
        "hubert": T.HubertConfig(num_hidden_layers=1),
    }
    out = {}
    for name, config in made.items():
        config.save_pretrained(root / name)
        out[name] = root / name
    (out["hubert"] / "preprocessor_config.json").write_text('{"sampling_rate": 8000}')
    return out


def test_hf_builds_the_architecture_the_config_names(configs: dict[str, Path]) -> None:
    model = load_hf(str(configs["bert"]))
    assert type(model).__name__ == "BertForMaskedLM"
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert type(load_hf(str(configs["bare"]))).__name__ == "BertModel"  # none named: base
    assert type(load_hf(str(configs["bert"]), task="base")).__name__ == "BertModel"
    head = load_named(f"hf:{configs['bert']}", task="seq-classification")
    assert type(head).__name__ == "BertForSequenceClassification"


def test_hf_reads_the_sampling_rate_of_the_feature_extractor(configs: dict[str, Path]) -> None:
    model = load_hf(str(configs["hubert"]))
    assert _input_nodes(drawnet.trace_model(model))["input_values"][0] == (1, 8000)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: load_hf(str(c["bert"]), task="causal_lm"), OptionError,
         "did you mean 'causal-lm'"),
        (lambda c: load_hf(str(c["whisper"]), task="image-classification"), SourceError,
         "no 'image-classification' head"),
        (lambda c: load_hf(str(c["bert"].parent)), SourceError, "without a config.json"),
        (lambda c: load_named("hf:"), SourceError, "names no model"),
        (lambda c: load_named("timm:resnet18", task="base"), OptionError, "hf: specs only"),
    ],
)
def test_hf_mistakes(configs: dict[str, Path], call: Callable[[dict[str, Path]], Any],
                     error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call(configs)


def test_unknown_model_type_says_to_upgrade(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "no_such_model_type"}')
    with pytest.raises(SourceError, match="does not know the model type"):
        load_hf(str(tmp_path))


def test_missing_timm_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="pip install timm"):
        load_timm("resnet18")


def test_tasks_name_auto_classes_transformers_has() -> None:
    missing = [t for t, cls in TASKS.items() if not hasattr(transformers, cls)]
    assert missing == []


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drawnet", *args], capture_output=True,
                          text=True, timeout=300)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process (the import of torch and transformers is paid
    once); one test below runs it in a subprocess as a user would."""
    from drawnet.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_renders_an_hf_folder_in_a_subprocess(configs: dict[str, Path],
                                                  tmp_path: Path) -> None:
    out = tmp_path / "bert.svg"
    r = run("render", f"hf:{configs['bert']}", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "input: input_ids" in out.read_text()
    assert "inputs: input_ids 1×" in r.stdout


@pytest.mark.parametrize("name", ["clip", "whisper"])
def test_cli_renders_hf_folders_without_input(configs: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              name: str) -> None:
    out = tmp_path / f"{name}.svg"
    code, stdout, err = cli(capsys, "render", f"hf:{configs[name]}", "-o", str(out))
    assert code == 0, err
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
    shown = next(line for line in stdout.splitlines() if line.startswith("inputs: "))
    names = [part.split()[0] for part in shown.removeprefix("inputs: ").split(", ")]
    assert len(names) == 2
    for name_ in names:
        assert f"input: {name_}" in out.read_text()


def test_cli_summary_with_task_and_seq_len(configs: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "summary", f"hf:{configs['bert']}", "--task",
                         "seq-classification", "--seq-len", "24")
    assert code == 0, err
    assert out.startswith("Inputs")
    assert "input_ids 1×24 int64" in out.splitlines()[0]
    assert "BertForSequenceClassification" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hf:/no/such/folder/anywhere"], "cannot read the config"),
        (["torch.nn:Identity", "--task", "base"], "applies to hf: specs only"),
        (["timm:resnet_18"], "did you mean"),
        (["torch.nn:Identity", "--dtype", "long"], "give --input too"),
        (["torch.nn:Identity"], "--input 1,3,224,224"),
    ],
)
def test_cli_mistakes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch, args: list[str],
                             message: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = cli(capsys, "render", *args, "-o", str(tmp_path / "x.svg"))
    assert code == 2, err
    assert message in err
    assert err.count("\n") == 1, err


@pytest.mark.slow
def test_cli_llama_70b_from_a_handwritten_config(tmp_path: Path) -> None:
    folder = Path(__file__).parent.parent / "samples" / "configs" / "llama-3.1-70b"
    out = tmp_path / "llama.svg"
    r = run("render", f"hf:{folder}", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "input: input_ids" in out.read_text()
    model = load_hf(str(folder))
    s = drawnet.summary(model)
    assert s.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_cli_timm_convnext_tiny(tmp_path: Path) -> None:
    out = tmp_path / "convnext.svg"
    r = run("render", "timm:convnext_tiny", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "input: x" in out.read_text()


def test_a_model_with_one_tensor_left_on_cpu_counts_as_meta() -> None:
    # Code like nn.Parameter(torch.Tensor(n)) ignores torch.device("meta"): such a model
    # still cannot compute, so only the no-compute tracers may run it.
    from drawnet.trace import auto_order

    model = _meta(BUILDERS["bert"])
    model.register_parameter("stray", torch.nn.Parameter(torch.zeros(3)))
    assert auto_order(model) == ("meta", "export")
    assert drawnet.draw_model(model).tracer == "meta"


# -- values the meta run reads, for models built on meta -------------------------------

class _Packed(torch.nn.Module):
    """Splits rows into runs whose lengths come from a grid, as vision towers do."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        lengths = torch.repeat_interleave(grid[:, 1] * grid[:, 2], grid[:, 0])
        parts = torch.split(self.proj(x), lengths.tolist())
        return torch.cat([p.sum(0, keepdim=True) for p in parts])


def test_lengths_repeated_from_a_grid_keep_their_values() -> None:
    model = _meta(_Packed)
    grid = torch.tensor([[2, 1, 3]])  # two frames of 1×3 patches: runs of 3 and 3
    g = drawnet.trace_model(model, input_data={"x": torch.randn(6, 4), "grid": grid},
                            tracer="meta")
    out = next(n for n in g.nodes if n.kind == "output")
    assert out.inputs[0].shape == (2, 4)


class _PadByBuffer(torch.nn.Module):
    """Pads by amounts kept in 0-d integer buffers (as EnCodec's convolutions do)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("left", torch.tensor(3), persistent=False)
        self.register_buffer("right", torch.tensor(2), persistent=False)
        self.conv = torch.nn.Conv1d(1, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.nn.functional.pad(x, (self.left, self.right)))


def test_zero_dim_values_are_read_as_numbers_where_torch_reads_them() -> None:
    # x is too large to be given a value, so the pad amounts are read on their own
    g = drawnet.trace_model(_PadByBuffer(), [1, 1, 300_000], tracer="meta")
    assert g.nodes[-1].inputs[0].shape == (1, 1, 300_003)


def test_integer_buffers_of_a_meta_model_come_from_its_init_code() -> None:
    from drawnet.trace.buffers import source_buffers

    model = _meta(lambda: T.EncodecModel(T.EncodecConfig(
        num_filters=4, hidden_size=16, num_residual_layers=1, upsampling_ratios=[2, 2],
        codebook_size=16, codebook_dim=16, sampling_rate=2000)))
    before = {n: (b, b.clone()) for n, b in model.named_buffers()}
    values = source_buffers(model)
    conv = model.encoder.layers[0]
    assert int(values["encoder.layers.0.padding_total"]) == (
        conv.conv.kernel_size[0] - conv.conv.stride[0])
    for name, b in model.named_buffers():  # nothing of the model's is written
        kept, copy = before[name]
        assert b is kept
        assert b.device.type == "meta" or torch.equal(b, copy)
    d = drawnet.draw_model(model)
    assert d.tracer == "meta"
    assert d.graph.totals.params == sum(p.numel() for p in model.parameters())


class _Checked(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)
        self.experts = torch.nn.ModuleDict({f"expert_{i}": torch.nn.Linear(4, 4)
                                            for i in range(2)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)
        torch._check_tensor_all(torch.isfinite(y), lambda: "not finite")
        pick = torch.tensor(1)
        return self.experts[f"expert_{pick}"](y)


def test_checks_on_weight_values_are_assumed_and_said() -> None:
    d = drawnet.draw_model(_meta(_Checked), [2, 4])
    assert any("assumed a check holds" in n for n in d.notes)
    drawn = {n.module_path for n in d.graph.nodes if n.module_path}
    assert "experts.expert_1" in drawn
    assert "experts.expert_0" not in drawn


def test_speecht5_model_without_prenets_gets_hidden_features() -> None:
    config = T.SpeechT5Config(encoder_layers=1, decoder_layers=1, hidden_size=32,
                              encoder_attention_heads=2, decoder_attention_heads=2,
                              encoder_ffn_dim=64, decoder_ffn_dim=64)
    inputs = _input_nodes(drawnet.trace_model(_meta(lambda: T.SpeechT5Model(config))))
    assert inputs["input_values"][0][-1] == 32
    assert inputs["decoder_input_values"][0][-1] == 32


def test_language_ids_are_given_to_a_model_with_adapters_per_language() -> None:
    config = T.XmodConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                          intermediate_size=64)
    inputs = _input_nodes(drawnet.trace_model(_meta(lambda: T.XmodModel(config))))
    assert inputs["lang_ids"] == ((1,), "int64")


SAMPLES = Path(__file__).parent.parent / "samples" / "configs"


@pytest.mark.parametrize("folder", ["bert-base-uncased", "clip-vit-base-patch32",
                                    "whisper-tiny"])
def test_sample_configs_render_without_input(folder: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{folder}.svg"
    code, stdout, err = cli(capsys, "render", f"hf:{SAMPLES / folder}", "-o", str(out))
    assert code == 0, err
    assert "inputs: " in stdout
    model = load_hf(str(SAMPLES / folder))
    assert drawnet.summary(model).total_params == sum(p.numel() for p in model.parameters())


def test_python_calls_take_a_name() -> None:
    import timm

    d = drawnet.draw_model("timm:resnet18")
    assert [n.outputs[0].shape for n in d.graph.nodes if n.kind == "input"] == [(1, 3, 224, 224)]
    built = timm.create_model("resnet18", pretrained=False)
    expected = sum(p.numel() for p in built.parameters())
    assert drawnet.summary("timm:resnet18").total_params == expected


def test_a_string_that_is_not_a_name_says_how_to_name_one() -> None:
    with pytest.raises(drawnet.ModelTypeError, match=re.escape("'hf:...' or 'timm:...'")):
        drawnet.draw_model("resnet18", [1, 3, 224, 224])
