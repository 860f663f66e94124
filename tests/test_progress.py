"""Progress on stderr for long draws: its stages, its two forms, and that it leaves nothing.

The command line's use of it (a slow model, a pipe, a terminal) is tested in
``test_cli_shell.py``; these run in-process with a threshold of 0 s, so nothing sleeps.
"""

from __future__ import annotations

import io
import threading

import pytest
from torch import nn

import drawnet
from drawnet.progress import Progress


def net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def test_draw_reports_each_stage_in_order() -> None:
    out = io.StringIO()
    with Progress(out, after=0.0, live=False) as p:
        d = drawnet.draw_model(net(), [1, 3, 8, 8], progress=p)
        assert d.pipe("svg").startswith(b"<?xml")
    lines = out.getvalue().splitlines()
    assert [line.split("…")[0] for line in lines[:-1]] == [
        "drawnet: tracing the model", "drawnet: building layers", "drawnet: laying out",
        "drawnet: rendering SVG"]
    assert lines[-1].startswith("drawnet: done in ")
    assert all(line.endswith(" s)") for line in lines[:-1])


def test_summary_reports_its_stages() -> None:
    out = io.StringIO()
    with Progress(out, after=0.0, live=False) as p:
        drawnet.summary(net(), [1, 3, 8, 8], progress=p)
    assert [line.split("…")[0] for line in out.getvalue().splitlines()[:2]] == [
        "drawnet: tracing the model", "drawnet: counting"]


def test_live_form_rewrites_one_line_and_wipes_it() -> None:
    out = io.StringIO()
    with Progress(out, after=0.0, live=True, interval=0.01) as p:
        p.stage("tracing the model")
        p.stage("building layers")
    text = out.getvalue()
    assert text.startswith("\rdrawnet: tracing the model… 0 s")
    assert "\rdrawnet: building layers… 0 s" in text
    assert "\n" not in text
    assert text.endswith("\r" + " " * len("drawnet: building layers… 0 s") + "\r")


def test_quick_draws_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    drawnet.draw_model(net(), [1, 3, 8, 8], progress=True).pipe("svg")
    drawnet.summary(net(), [1, 3, 8, 8], progress=True)
    assert capsys.readouterr().err == ""


def test_auto_is_off_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Progress] = []
    enter = Progress.__enter__

    def spy(self: Progress) -> Progress:
        started.append(self)
        return enter(self)

    monkeypatch.setattr(Progress, "__enter__", spy)
    drawnet.draw_model(net(), [1, 3, 8, 8]).pipe("svg")  # progress=None: stderr is captured
    assert started
    assert not any(p.enabled for p in started)
    assert capsys.readouterr().err == ""


def test_no_thread_outlives_the_call_even_on_failure() -> None:
    before = set(threading.enumerate())
    out = io.StringIO()
    with pytest.raises(drawnet.TraceError), Progress(out, after=0.0, live=True) as p:
        drawnet.draw_model(net(), [1, 3, 8], tracer="meta", progress=p)  # wrong shape
    drawnet.draw_model(net(), [1, 3, 8, 8], progress=True)
    assert set(threading.enumerate()) == before
    assert out.getvalue().endswith("\r")  # the line was wiped before the error is shown


def test_progress_must_be_a_bool_none_or_a_progress() -> None:
    with pytest.raises(drawnet.OptionError, match="progress must be True, False, None"):
        drawnet.draw_model(net(), [1, 3, 8, 8], progress="yes")  # type: ignore[arg-type]
