"""Wrong arguments to every public function give a one-line drawnet error, never a raw
Python one (``AttributeError`` from deep inside, ``TypeError`` from ``ord()``...).

A table of hostile values is thrown at each parameter of ``draw_model``, ``summary``,
``model_stats``, ``Diagram.save``/``pipe`` and ``Theme``, one parameter at a time; each
call must succeed or raise a :class:`~drawnet.errors.DrawnetError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import drawnet
from drawnet.errors import DrawnetError, InputError

NET = nn.Sequential(nn.Linear(4, 3), nn.ReLU())


class _Weird:
    def __repr__(self) -> str:
        raise RuntimeError("repr breaks")

    def __str__(self) -> str:
        raise RuntimeError("str breaks")


HOSTILE: dict[str, Any] = {
    "none": None, "zero": 0, "negative": -3, "huge": 2**70, "float": 1.5, "nan": math.nan,
    "inf": math.inf, "true": True, "text": "str", "empty-text": "", "bytes": b"\x01\x04",
    "list": [1, "a"], "empty-list": [], "dict": {"a": 1}, "nested": [[[]]],
    "object": object(), "weird": _Weird(), "type": int, "tensor": torch.zeros(2),
    "sparse": torch.zeros(1, 4).to_sparse(), "set": {1, 2}, "complex": 1j,
}


def _call_ok_or_drawnet_error(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except DrawnetError as e:
        text = str(e)
        assert text.strip(), "an error without a message"
        assert "\n" not in text.strip(), f"not one line: {text!r}"
    # Anything else propagates and fails the test with its own traceback.


DRAW_PARAMS = ("input_size", "input_data", "kwargs", "dtypes", "orientation", "tracer",
               "depth", "fold", "collapse_repeats", "clusters", "theme", "title", "wrap",
               "legend", "show_params", "show_macs", "color_by", "max_boxes", "mode",
               "hide_reshapes", "engine", "hide", "fit", "progress")


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("param", DRAW_PARAMS)
def test_draw_model(param: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"input_size": [1, 4], param: value}
    if param == "input_data":
        kwargs.pop("input_size")
    _call_ok_or_drawnet_error(drawnet.draw_model, NET, **kwargs)


SUMMARY_PARAMS = ("input_size", "input_data", "kwargs", "dtypes", "depth", "columns",
                  "tracer", "mode")


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("param", SUMMARY_PARAMS)
def test_summary(param: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"input_size": [1, 4], param: value}
    if param == "input_data":
        kwargs.pop("input_size")
    _call_ok_or_drawnet_error(drawnet.summary, NET, **kwargs)


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("param", ["input_size", "kwargs", "dtypes", "tracer", "mode"])
def test_model_stats(param: str, value: Any) -> None:
    _call_ok_or_drawnet_error(drawnet.model_stats, NET, **{"input_size": [1, 4], param: value})


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_model(value: Any) -> None:
    _call_ok_or_drawnet_error(drawnet.draw_model, value, [1, 4])
    _call_ok_or_drawnet_error(drawnet.summary, value, [1, 4])


@pytest.fixture(scope="module")
def diagram() -> drawnet.Diagram:
    return drawnet.draw_model(NET, [1, 4])


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("param", ["path", "format", "dpi", "timeout"])
def test_save(diagram: drawnet.Diagram, param: str, value: Any, tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"path": tmp_path / "out.svg", param: value}
    _call_ok_or_drawnet_error(diagram.save, **kwargs)


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("param", ["format", "dpi", "timeout"])
def test_pipe(diagram: drawnet.Diagram, param: str, value: Any) -> None:
    _call_ok_or_drawnet_error(diagram.pipe, **{param: value})


THEME_FIELDS = ("name", "fontname", "fontsize", "small_fontsize", "background",
                "edge_color", "fills")


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("field", THEME_FIELDS)
def test_theme(field: str, value: Any) -> None:
    def make() -> None:
        theme = drawnet.Theme(**{"name": "mine", field: value})
        drawnet.draw_model(NET, [1, 4], theme=theme).pipe("svg")

    _call_ok_or_drawnet_error(make)


# --------------------------------------------------------------------------- named cases


@pytest.mark.parametrize(("call", "builtin", "fragment"), [
    (lambda: drawnet.draw_model(NET, [1, 4], kwargs="str"), TypeError, "kwargs"),
    (lambda: drawnet.draw_model(NET, [1, 4], title=5), TypeError, "title"),
    (lambda: drawnet.Theme(name="t", fontsize="big"), TypeError, "fontsize"),
    (lambda: drawnet.draw_model(NET, [1, 4]).save(None), TypeError, "path"),
    (lambda: drawnet.summary(NET, [1, 4], columns=5), TypeError, "columns"),
    (lambda: drawnet.draw_model(NET, b"\x01\x04"), ValueError, "bytes"),
    (lambda: drawnet.draw_model(NET, [1, 99999999999999999999]), ValueError, "2**63"),
    (lambda: drawnet.draw_model(NET, [2**32, 2**32, 4]), ValueError, "2**63"),
    (lambda: drawnet.draw_model(NET, input_data=torch.zeros(1, 4).to_sparse()),
     ValueError, "sparse"),
    (lambda: drawnet.draw_model(NET, [1, 4], dtypes="long"), ValueError, "int64"),
    (lambda: drawnet.draw_model(NET, [1, 4], fold="no"), TypeError, "fold"),
    (lambda: drawnet.draw_model(NET, [1, 4]).pipe("svg", timeout="soon"), TypeError,
     "timeout"),
])
def test_named_cases(call: Any, builtin: type[Exception], fragment: str) -> None:
    with pytest.raises(DrawnetError) as info:
        call()
    assert isinstance(info.value, builtin), type(info.value).__mro__
    assert fragment in str(info.value), str(info.value)


def test_long_ids_into_a_linear_name_the_layer() -> None:
    # A real run rejects integer input to a float Linear: it must not be drawn.
    with pytest.raises(InputError, match=r"'0' \(Linear\).*int64"):
        drawnet.summary(NET, [1, 4], dtypes="long")
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    assert drawnet.summary(emb, [1, 3], dtypes="long").total_params == 10 * 4 + 4 * 2 + 2


def test_numpy_style_integers_are_dimensions() -> None:
    class Index:
        def __init__(self, v: int) -> None:
            self.v = v

        def __index__(self) -> int:
            return self.v

    s = drawnet.summary(NET, [Index(1), Index(4)])
    assert s.layers[0].output_shape == (1, 3) or s.total_params == 15


def test_cli_huge_dimension_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    from drawnet.cli import main

    assert main(["summary", "torch.nn:Identity", "-i", "1,99999999999999999999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drawnet: error: ")
    assert "internal" not in err


def test_cli_out_of_memory_in_a_real_run_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from drawnet.cli import main

    # Making a 40 TB input for a real run fails to allocate: a user error, not a crash.
    assert main(["summary", "torch.nn:Identity", "-i", "100000,100000,1000",
                 "--tracer", "eager"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drawnet: error: ")
    assert "memory" in err
    assert "meta" in err
