"""Reading runs: the HTML report and comparison (every picture embedded, the measures, protocol,
config and warnings shown), labelled and enlarged grids, eval.png's markers and non-finite
values, and the one line that says TensorBoard is missing."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit import checkpoint, plots
from gankit.cli import main
from gankit.compare import shared_metrics
from gankit.config import resolve
from gankit.errors import ConfigError
from gankit.grid_labels import TITLE_HEIGHT
from gankit.report import RunView
from gankit.watch import _say_tensorboard_missing, save_walk_gif, tensorboard_available

from .conftest import TINY


class Page(HTMLParser):
    """The pictures, table cells and text of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.cells: list[str] = []
        self.text: list[str] = []
        self.scripts = self.links = 0
        self._in_cell = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs["src"])
        self.scripts += tag == "script"
        self.links += tag == "link"
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        self._in_cell = False if tag in ("td", "th") else self._in_cell

    def handle_data(self, data):
        self.text.append(data)
        if self._in_cell:
            self.cells.append(data)

    def pictures(self, page: Path) -> list[Image.Image]:
        """Every <img>, decoded: from its data: URI, or from the file it names beside the page."""
        found = []
        for src in self.sources:
            if src.startswith("data:"):
                header, payload = src.split(",", 1)
                assert header in ("data:image/png;base64", "data:image/gif;base64"), header
                found.append(Image.open(io.BytesIO(base64.b64decode(payload, validate=True))))
            else:
                assert (page.parent / src).is_file(), src
                found.append(Image.open(page.parent / src))
        return found


@pytest.fixture(scope="module")
def ring_runs(tmp_path_factory):
    """Two tiny ring runs with different objectives (a few seconds each)."""
    root = tmp_path_factory.mktemp("runs")
    overrides = [*TINY, "train.steps=20", "train.tensorboard=off"]
    a = gankit.train("ring", overrides=overrides, runs_dir=root, name="ns")
    b = gankit.train("ring", overrides=[*overrides, "loss.objective=hinge"], runs_dir=root, name="hinge")
    return a.run_dir, b.run_dir


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A conditional MNIST GAN of 20 iterations with grids at 10 and 20."""
    root = tmp_path_factory.mktemp("images")
    overrides = ["data.limit=200", "train.steps=20", "train.grid_every=10", "train.log_every=10",
                 "data.classifier=false", "train.tensorboard=off", "eval.n_samples=100"]  # fmt: skip
    return gankit.train("cgan-mlp", overrides=overrides, runs_dir=root).run_dir


def test_report_embeds_every_picture_and_shows_measures_protocol_config_and_warnings(ring_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(ring_runs[0], run)
    summary = json.loads((run / "summary.json").read_text())
    summary["protocol"] = {"feature_network": "lenet-test", "n_generated": 200}
    summary["warnings"] = ["D <b>wins</b>: try the non-saturating loss"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["report", str(run)]) == 0
    out = run / "report.html"
    assert f"to {out}" in capsys.readouterr().out
    page = Page(out.read_text())
    assert page.scripts == 0 and page.links == 0  # no JavaScript, nothing fetched
    pictures = page.pictures(out)
    plotted = sorted(p.name for p in (run / "plots").glob("*.png"))
    assert len(pictures) == len(plotted) >= 4  # losses, accuracy, eval, distribution
    assert all(p.size[0] > 300 and p.size[1] > 200 for p in pictures)
    for name, value in summary["measures"].items():
        assert name in page.cells and RunView.read(run).measures()[name] == value
    assert f"{summary['measures']['sliced_w1']:.4g}" in page.cells
    at = page.cells.index("feature_network")
    assert page.cells[at : at + 4] == ["feature_network", "lenet-test", "n_generated", "200"]
    config = json.loads((run / "config.json").read_text())
    assert page.cells[page.cells.index("train.steps") + 1] == "20"
    assert page.cells[page.cells.index("loss.objective") + 1] == config["loss"]["objective"]
    assert page.cells[page.cells.index("iterations") + 1] == "20"
    assert "D <b>wins</b>: try the non-saturating loss" in page.text  # shown as text, not markup


def test_report_of_an_image_run_embeds_its_grids_and_animation(image_run, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(image_run), "--out", str(out)]) == 0
    page = Page(out.read_text())
    pictures = page.pictures(out)
    gif = [p for p in pictures if p.format == "GIF"]
    assert len(gif) == 1 and gif[0].n_frames == 2  # progress.gif
    with Image.open(image_run / "plots" / "samples-grid.png") as grid:
        assert grid.size in [p.size for p in pictures]
    measures = json.loads((image_run / "summary.json").read_text())["measures"]
    assert measures and set(measures) <= set(page.cells)


def test_compare_tabulates_both_runs_and_draws_a_figure_per_shared_metric(ring_runs, tmp_path, capsys):
    out = tmp_path / "c.html"
    assert main(["compare", *map(str, ring_runs), "--out", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["measure", "ns", "hinge"]
    summaries = [json.loads((r / "summary.json").read_text()) for r in ring_runs]
    page = Page(out.read_text())
    for name in summaries[0]["measures"]:
        values = [s["measures"][name] for s in summaries]
        shown = [f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v) for v in values]
        row = next(line.split() for line in text if line.split()[0] == name)
        assert row == [name, *shown]  # the plain-text table
        i = page.cells.index(name)
        assert page.cells[i : i + 3] == [name, *shown]  # the page's table
    shared, alone = shared_metrics([RunView.read(r) for r in ring_runs])
    assert {"d_loss", "g_loss", "eval/sliced_w1"} <= set(shared)
    assert alone == ["wasserstein"] and "Logged by one run only: wasserstein." in page.text  # the hinge critic's
    pictures = page.pictures(out)
    assert len(pictures) == len(shared) and all(p.format == "PNG" for p in pictures)


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "{tmp}"], "is not a gankit run folder (no config.json)"),
        (["report", "{tmp}/missing"], "is not a gankit run folder (not a folder"),
        (["compare", "{a}"], "compare needs at least two run folders, got 1"),
        (["compare", "{a}", "{tmp}"], "is not a gankit run folder"),
        (["compare", "{a}", "{b}", "--out", "{tmp}/no/c.html"], "folder {tmp}/no does not exist"),
        (["report", "{a}", "--out", "{tmp}/r.pdf"], "unknown format '.pdf' (allowed: .html, .htm)"),
        (["report", "{a}", "--out", "{tmp}"], "is a folder; give a file name ending in .html"),
    ],
)
def test_bad_input_is_one_line_and_status_2(ring_runs, tmp_path, capsys, args, message):
    names = {"tmp": str(tmp_path), "a": str(ring_runs[0]), "b": str(ring_runs[1])}
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(**names) in err, err
    assert not list(tmp_path.rglob("*.html"))


def test_unwritable_out_is_one_line_and_status_2(ring_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("gankit.report.os.access", lambda path, mode: False)  # root may write anywhere
    assert main(["report", str(ring_runs[0]), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not writable by this user" in err


def test_grids_are_enlarged_crisply_and_labelled_with_iteration_and_classes(image_run):
    grids = sorted((image_run / "grids").glob("grid-*.png"))
    assert [g.name for g in grids] == ["grid-00000010.png", "grid-00000020.png"]
    grid = np.asarray(Image.open(grids[-1]).convert("L")).astype(int)
    scale = 3  # automatic for 28 px images: at least 64 px each
    raw_h, raw_w = 10 * 30 + 2, 10 * 30 + 2  # a row per class, 10 columns, 28 px + 2 px padding
    left = grid.shape[1] - scale * raw_w
    assert grid.shape[0] == TITLE_HEIGHT + scale * raw_h and 8 < left < 60
    body = grid[TITLE_HEIGHT:, left:]
    blocks = body.reshape(raw_h, scale, raw_w, scale)
    assert (blocks == blocks[:, :1, :, :1]).all()  # nearest neighbour: every pixel a 3×3 square
    assert (grid[:TITLE_HEIGHT] < 128).sum() > 50  # the title's ink
    for row in range(10):  # each class's name beside its row
        top = TITLE_HEIGHT + scale * (2 + 30 * row)
        assert (grid[top : top + scale * 28, :left] < 128).sum() > 10, row
    assert (grid[TITLE_HEIGHT:, :left][grid[TITLE_HEIGHT:, :left] < 128].size) > 100
    with Image.open(image_run / "plots" / "progress.gif") as gif:
        assert gif.size == (grid.shape[1], grid.shape[0]) and gif.n_frames == 2
        first = np.asarray(gif.convert("L"))[:TITLE_HEIGHT]
    assert not np.array_equal(first, grid[:TITLE_HEIGHT])  # frames titled with their own iteration


def test_walk_gifs_are_enlarged_automatically_or_as_asked(tmp_path):
    with pytest.raises(ConfigError, match="eval.grid_scale"):
        resolve("ring", overrides=["eval.grid_scale=-1"])
    assert resolve("ring")["eval"]["grid_scale"] == 0  # automatic
    walks = torch.randint(0, 256, (4, 5, 1, 28, 28), dtype=torch.uint8)
    for scale, factor in ((0, 3), (1, 1), (5, 5)):
        save_walk_gif(walks, tmp_path / "w.gif", scale)
        with Image.open(tmp_path / "w.gif") as gif:
            assert gif.size == (factor * (4 * 30 + 2), factor * 32) and gif.n_frames == 2 * 5 - 2


def test_interpolate_gifs_are_enlarged_by_the_runs_grid_scale(image_run, tmp_path, capsys):
    loaded = gankit.load(image_run)
    sizes = {}
    for scale in (0, 1, 2):  # the same generator, its header's eval.grid_scale changed
        config = {**loaded.config, "eval": {**loaded.config["eval"], "grid_scale": scale}}
        source = tmp_path / f"generator-{scale}.safetensors"
        header = checkpoint.generator_header(loaded.gan, config, loaded.info, loaded.step)
        checkpoint.save_generator(source, loaded.generator.state_dict(), header)
        out = tmp_path / f"walk-{scale}.gif"
        assert main(["interpolate", str(source), "--out", str(out), "--steps", "3", "--paths", "2", "--seed", "0"]) == 0
        with Image.open(out) as gif:
            sizes[scale] = gif.size
    assert sizes[1] == (2 * 30 + 2, 30 + 2)  # two 28 px walks side by side, 2 px padding
    assert sizes[2] == (2 * sizes[1][0], 2 * sizes[1][1])
    assert sizes[0] == (3 * sizes[1][0], 3 * sizes[1][1])  # automatic: each image at least 64 px


def _pixels_near(path: Path, colour: str) -> int:
    from matplotlib.colors import to_rgb

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    target = np.array([round(255 * c) for c in to_rgb(colour)])
    return int((np.abs(rgb - target).sum(axis=2) < 40).sum())


def test_eval_picture_marks_a_single_evaluation_and_shows_infinity(tmp_path):
    one = tmp_path / "one.png"
    plots.plot_eval([{"step": 20, "eval/energy": 0.4}], one)
    assert _pixels_near(one, "tab:blue") > 15  # a marker: a line through one point draws nothing
    inf = tmp_path / "inf.png"
    plots.plot_eval([{"step": 20, "eval/mode_kl": 1.0}, {"step": 40, "eval/mode_kl": math.inf},
                     {"step": 60, "eval/mode_kl": "Infinity"}], inf)  # fmt: skip
    assert _pixels_near(inf, plots.FAKE) > 40  # two triangles at the top edge, and their note
    assert _pixels_near(inf, "tab:blue") > 15  # the finite point
    finite = tmp_path / "finite.png"
    plots.plot_eval([{"step": 20, "eval/mode_kl": 1.0}, {"step": 40, "eval/mode_kl": 2.0}], finite)
    assert _pixels_near(finite, plots.FAKE) == 0
    _, other, note = plots.split_finite(("kl", [20, 40, 60], [1.0, math.inf, -math.inf]))
    assert other == ("kl (not finite)", [40, 60], [1.0, 0.0]) and note == "inf at 40, -inf at 60"


def test_missing_tensorboard_is_said_once_when_auto_asks_for_it(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    caplog.set_level(logging.INFO, logger="gankit")  # conftest restores the logger before each test
    try:
        _say_tensorboard_missing.cache_clear()
        assert tensorboard_available("off") is False
        assert not caplog.records  # off asks for nothing
        assert [tensorboard_available("auto") for _ in range(3)] == [False] * 3
    finally:
        _say_tensorboard_missing.cache_clear()
    said = [r.getMessage() for r in caplog.records if "tensorboard" in r.getMessage().lower()]
    assert len(said) == 1 and "the tensorboard package is not installed" in said[0], said
