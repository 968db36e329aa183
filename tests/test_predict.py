"""Sliding-window prediction: window placement, the stitching oracle, nodata, COG outputs and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")

from glaciermap.errors import InputError  # noqa: E402
from glaciermap.predict.engine import (  # noqa: E402
    PredictConfig,
    StackWindows,
    predict_stack,
    resolve_device,
    sweep,
)
from glaciermap.predict.sliding import (  # noqa: E402
    RowBlender,
    gaussian_weight,
    plan_windows,
    window_starts,
)


def test_window_starts_cover_and_end_at_the_edge():
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(11, 4, 2) == [0, 2, 4, 6, 7]
    assert window_starts(4, 4, 2) == [0]
    assert window_starts(3, 4, 2) == [0]  # smaller than a window: one padded window
    plan = plan_windows(1000, 700, 384, 0.5)
    assert plan.stride == 192
    assert plan.rows == (0, 192, 384, 576, 616) and plan.cols == (0, 192, 316)
    assert plan.count == 15 and list(plan)[:3] == [(0, 0), (0, 192), (0, 316)]
    with pytest.raises(ValueError):
        plan_windows(10, 10, 4, 1.0)


def test_gaussian_weight_peak_floor_and_symmetry():
    w = gaussian_weight(64)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0, abs=1e-3) and w.min() >= 1e-3
    np.testing.assert_array_equal(w, w[::-1, ::-1])
    np.testing.assert_array_equal(w, w.T)


def _array_reader(image: np.ndarray):
    """A window reader over an in-memory ``(T, C, H, W)`` array (NaN = no data), as StackWindows."""
    height, width = image.shape[-2:]

    def read(row: int, col: int, size: int, out: np.ndarray | None = None):
        window = np.full((*image.shape[:2], size, size), np.nan, dtype=np.float32)
        h, w = min(size, height - row), min(size, width - col)
        window[..., :h, :w] = image[..., row : row + h, col : col + w]
        valid = np.isfinite(window).any(axis=(0, 1))
        if out is None:
            out = np.empty_like(window)
        out[...] = np.nan_to_num(window, nan=0.0)
        return out, valid

    return read


def _collect(height: int, width: int):
    result = np.full((height, width), -1.0, dtype=np.float32)
    seen: list[int] = []

    def sink(row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        assert row0 == (seen[-1] if seen else 0), "rows must arrive in order, without gaps"
        result[row0 : row0 + len(values)] = values
        seen.append(row0 + len(values))

    return result, seen, sink


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.75])
@pytest.mark.parametrize(("height", "width"), [(150, 97), (64, 64), (20, 45), (33, 200)])
@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_stitching_oracle_gives_back_the_image(overlap, height, width, factor):
    """A model returning (a multiple of) its first band must come back exactly, edges included."""
    rng = np.random.default_rng(height * width)
    image = rng.normal(size=(2, 2, height, width)).astype(np.float32)
    plan = plan_windows(height, width, 32, overlap)
    result, seen, sink = _collect(height, width)
    sweep(
        plan,
        _array_reader(image),
        lambda x: factor * x[:, 0, 0],
        sink,
        batch_size=3,
        prefetch=2,
    )
    assert seen[-1] == height
    np.testing.assert_allclose(result, factor * image[0, 0], rtol=1e-5, atol=1e-6)


def test_nodata_in_is_nodata_out_and_buffers_do_not_grow_with_height():
    image = np.ones((1, 1, 300, 50), dtype=np.float32)
    image[:, :, 100:120, 10:20] = np.nan  # no data at every date
    plan = plan_windows(300, 50, 32, 0.5)
    valid_rows: list[np.ndarray] = []
    result, _, sink = _collect(300, 50)

    def keep(row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        valid_rows.append(valid)
        sink(row0, values, valid)

    sweep(plan, _array_reader(image), lambda x: x[:, 0, 0], keep, batch_size=4)
    valid = np.concatenate(valid_rows)
    assert not valid[100:120, 10:20].any() and np.isnan(result[100:120, 10:20]).all()
    assert valid.sum() == 300 * 50 - 200
    np.testing.assert_allclose(result[valid], 1.0, rtol=1e-6)
    blender = RowBlender(plan_windows(100_000, 50, 32, 0.5), gaussian_weight(32), sink)
    assert blender.acc.shape == (32, 50)  # one window of rows, not the raster's height


def test_stitching_oracle_across_tile_seams_of_a_real_stack(example_stack):
    """Windows read from stack.vrt across tile borders give back the stack's own band exactly."""
    meta = json.loads((example_stack / "stack.json").read_text())
    n_c = len(meta["channels"])
    mean, std = np.zeros(n_c, np.float32), np.ones(n_c, np.float32)
    reader = StackWindows(example_stack / "stack.vrt", [1, 2], 1, mean, std)
    with rasterio.open(example_stack / "stack.vrt") as src:
        bands = src.read([1, 2])
    band = bands[0]
    assert reader.height == band.shape[0] and reader.width == band.shape[1]
    plan = plan_windows(reader.height, reader.width, 96, 0.5)
    assert any(c // 200 != (c + 95) // 200 for c in plan.cols)  # windows straddle tile seams
    result, _, sink = _collect(reader.height, reader.width)
    sweep(plan, reader, lambda x: x[:, 0, 0], sink, batch_size=5)
    observed = np.isfinite(bands).any(axis=0)  # data in either channel of the date read
    expected = np.nan_to_num(band)  # a channel without data enters the model as 0
    np.testing.assert_allclose(result[observed], expected[observed], rtol=1e-5, atol=1e-5)
    assert np.isnan(result[~observed]).all() and observed.mean() > 0.5


@pytest.fixture(scope="module")
def tiny_weights(example_stack, tmp_path_factory) -> Path:
    """Weights of a small untrained U-Net with a card built for the example stack."""
    from glaciermap.models.registry import create_model
    from glaciermap.models.weights import save_weights

    meta = json.loads((example_stack / "stack.json").read_text())
    torch.manual_seed(0)
    model = create_model("unet3d", in_channels=2, n_times=len(meta["dates"]), widths=[4, 8])
    path = tmp_path_factory.mktemp("weights") / "tiny"
    save_weights(model, path, {"normalisation": meta["normalisation"]})
    return path


def test_predict_stack_writes_cogs_in_the_stack_grid(example_stack, tiny_weights, tmp_path):
    out = tmp_path / "pred"
    calls: list[tuple[int, int]] = []
    result = predict_stack(
        tiny_weights,
        example_stack,
        out,
        PredictConfig(window=128, overlap=0.25, batch_size=4, device="cpu"),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1][0] == calls[-1][1] == result.windows
    assert sorted(p.name for p in out.iterdir()) == [
        "mask.tif",
        "outlines.gpkg",  # vectorize is on by default, as in the CLI
        "predict.json",
        "probability.tif",
    ]
    with rasterio.open(example_stack / "stack.vrt") as ref:
        grid = (ref.crs, ref.transform, ref.width, ref.height)
        observed = np.isfinite(ref.read()).any(axis=0)
    with rasterio.open(result.probability) as prob, rasterio.open(result.mask) as mask:
        assert (prob.crs, prob.transform, prob.width, prob.height) == grid
        assert (mask.crs, mask.transform, mask.width, mask.height) == grid
        assert prob.profile["driver"] == "GTiff" and prob.overviews(1)  # COG: tiled + overviews
        p, m = prob.read(1), mask.read(1)
    assert np.array_equal(np.isfinite(p), observed)
    assert ((p[observed] >= 0) & (p[observed] <= 1)).all()
    assert np.array_equal(m[observed], (p[observed] >= 0.5).astype(np.uint8))
    assert (m[~observed] == 255).all()
    record = json.loads((out / "predict.json").read_text())
    assert record["windows"] == result.windows and record["config"]["window"] == 128
    # Deterministic for a fixed input.
    again = predict_stack(
        tiny_weights, example_stack, tmp_path / "again", PredictConfig(window=128, overlap=0.25)
    )
    with rasterio.open(again.probability) as prob2:
        np.testing.assert_array_equal(prob2.read(1), p)


def test_tta_averages_flips(example_stack, tiny_weights, tmp_path):
    from glaciermap.models.weights import load_weights
    from glaciermap.predict.engine import torch_batch_fn

    model, _ = load_weights(tiny_weights)
    x = np.random.default_rng(0).normal(size=(2, 4, 2, 32, 32)).astype(np.float32)
    plain = torch_batch_fn(model, torch.device("cpu"))
    tta = torch_batch_fn(model, torch.device("cpu"), tta=True)
    views = []
    for axes in ((), (3,), (4,), (3, 4)):  # H and W of (B, T, C, H, W) are axes 3, 4
        flipped = np.ascontiguousarray(np.flip(x, axes)) if axes else x
        out = plain(flipped)
        views.append(np.flip(out, tuple(a - 2 for a in axes)) if axes else out)  # (B, H, W)
    expected = np.mean(views, axis=0)
    np.testing.assert_allclose(tta(x), expected, rtol=1e-5, atol=1e-6)


def test_predict_errors_are_input_errors_and_leave_nothing(example_stack, tiny_weights, tmp_path):
    import shutil

    # A card for other channels.
    other = tmp_path / "other"
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_weights.with_name(tiny_weights.name + suffix), f"{other}{suffix}")
    card = json.loads(other.with_suffix(".json").read_text())
    card["channels"] = ["copol_db", "crosspol_db"]
    other.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="expect"):
        predict_stack(other, example_stack, tmp_path / "o1")
    # A window the model's stride does not divide.
    with pytest.raises(InputError, match="stride"):
        predict_stack(tiny_weights, example_stack, tmp_path / "o2", PredictConfig(window=63))
    # A stack with a missing tile.
    broken = tmp_path / "broken"
    shutil.copytree(example_stack, broken)
    first = sorted((broken / "tiles").glob("*.tif"))[0]
    first.unlink()
    with pytest.raises(InputError, match=f"lacks 1 file.*tiles/{first.stem}"):
        predict_stack(tiny_weights, broken, tmp_path / "o3")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda")


def test_interrupted_predict_leaves_no_file(example_stack, tiny_weights, tmp_path, monkeypatch):
    import glaciermap.predict.engine as engine

    calls = {"n": 0}
    real = engine.torch_batch_fn

    def failing(*args, **kwargs):
        run = real(*args, **kwargs)

        def wrapped(x):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return run(x)

        return wrapped

    monkeypatch.setattr(engine, "torch_batch_fn", failing)
    out = tmp_path / "pred"
    with pytest.raises(KeyboardInterrupt):
        predict_stack(tiny_weights, example_stack, out, PredictConfig(window=32, batch_size=2))
    assert calls["n"] == 3
    assert list(out.iterdir()) == []


def test_predict_stack_writes_outlines_when_asked(example_stack, tiny_weights, tmp_path):
    """With vectorize, predict_stack writes the outlines vectorize would write from its mask."""
    from glaciermap.io.vector import read_frame
    from glaciermap.vectorize import vectorize_raster

    out = tmp_path / "pred"
    out.mkdir()
    (out / "outlines.gpkg").write_text("outlines of an older run")
    config = PredictConfig(window=128, overlap=0.25, device="cpu", vectorize=True, min_area_km2=0)
    result = predict_stack(tiny_weights, example_stack, out, config)
    assert result.outlines is not None and result.outlines.output == out / "outlines.gpkg"
    expected = vectorize_raster(result.mask, tmp_path / "direct.gpkg", threshold=1, min_area_km2=0)
    assert (result.outlines.count, result.outlines.total_area_km2) == (
        expected.count,
        expected.total_area_km2,
    )
    assert read_frame(out / "outlines.gpkg").equals(read_frame(tmp_path / "direct.gpkg"))
    record = json.loads((out / "predict.json").read_text())
    assert record["config"]["vectorize"] is True and record["config"]["min_area_km2"] == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "mask.tif",
        "outlines.gpkg",
        "predict.json",
        "probability.tif",
    ]


def _grid(width: int, height: int) -> dict:
    from rasterio.transform import from_origin

    return {
        "width": width,
        "height": height,
        "crs": "EPSG:32633",
        "transform": from_origin(500000, 8000000, 10, 10),
    }


def test_row_stream_publishes_cogs_of_the_rows_written(tmp_path):
    """Rows in uneven bands become COGs equal to the whole array; memory stays a block row or so."""
    from glaciermap.io.raster import StreamedCogs

    height, width, chunk = 1300, 700, 97
    rng = np.random.default_rng(3)
    values = rng.random((height, width), dtype=np.float32)
    values[200:260, 100:150] = np.nan
    codes = (values >= 0.5).astype(np.uint8)
    (tmp_path / "old.json").write_text("{}")
    (tmp_path / "probability.tif").write_text("an older raster")
    with StreamedCogs(tmp_path) as cogs:
        prob = cogs.add(
            "probability.tif",
            dtype="float32",
            nodata=float("nan"),
            description="p",
            **_grid(width, height),
        )
        mask = cogs.add("mask.tif", dtype="uint8", nodata=255, **_grid(width, height))
        for row0 in range(0, height, chunk):
            prob.write(row0, values[row0 : row0 + chunk])
            view = mask.reserve(row0, len(codes[row0 : row0 + chunk]))
            view[...] = codes[row0 : row0 + chunk]
            mask.commit(len(view))
            assert prob.pending < prob.block and len(prob._buffer) <= prob.block + 2 * chunk
        with pytest.raises(ValueError, match="in order"):
            prob.write(0, values[:1])
        # Nothing under a final name before publishing; the older raster is still there.
        assert (tmp_path / "probability.tif").read_text() == "an older raster"
        assert not (tmp_path / "mask.tif").exists()
        paths = cogs.publish(replaces=[tmp_path / "old.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.tif", "probability.tif"]
    with rasterio.open(paths["probability.tif"]) as src:
        np.testing.assert_array_equal(src.read(1), values)
        assert src.descriptions == ("p",) and src.overviews(1) and src.block_shapes[0] == (512, 512)
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    with rasterio.open(paths["mask.tif"]) as src:
        np.testing.assert_array_equal(src.read(1), codes)
        assert src.nodata == 255 and src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"


def test_row_stream_interrupted_leaves_the_folder_as_it_was(tmp_path):
    from glaciermap.io.raster import StreamedCogs

    (tmp_path / "mask.tif").write_text("an older raster")
    with pytest.raises(KeyboardInterrupt), StreamedCogs(tmp_path) as cogs:
        mask = cogs.add("mask.tif", dtype="uint8", nodata=255, **_grid(50, 600))
        mask.write(0, np.ones((550, 50), dtype=np.uint8))
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["mask.tif"]
    assert (tmp_path / "mask.tif").read_text() == "an older raster"


def test_cli_predict_stack_folder(run_cli, example_stack, tiny_weights, tmp_path):
    out = tmp_path / "cli"
    result = run_cli(
        "predict",
        f"{tiny_weights}.safetensors",
        "--stack",
        example_stack,
        "-o",
        out,
        "--window",
        "128",
        "--overlap",
        "0.25",
        "--device",
        "cpu",
        "--min-area",
        "0",
    )
    assert result.exit_code == 0, result.stderr
    assert "windows" in result.stdout and "glacier(s)" in result.stdout
    assert {p.name for p in out.iterdir()} == {
        "probability.tif",
        "mask.tif",
        "outlines.gpkg",
        "predict.json",
    }


def test_cli_predict_errors(run_cli, example_stack, tiny_weights, tmp_path, monkeypatch):
    result = run_cli("predict", "--region", "example", "--year", "2016")
    assert result.exit_code == 2
    assert "no stack for example 2016" in result.stderr and "preprocess" in result.stderr
    monkeypatch.setenv("GLACIERMAP_WEIGHTS", str(tmp_path))
    monkeypatch.setattr("glaciermap.models.lookup.SHIPPED_WEIGHTS", tmp_path / "none")
    result = run_cli("predict", "nosuch", "--stack", example_stack, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "no weights named 'nosuch'" in result.stderr
    if not torch.cuda.is_available():
        result = run_cli(
            "predict",
            tiny_weights,
            "--stack",
            example_stack,
            "-o",
            tmp_path / "o",
            "--device",
            "cuda",
        )
        assert result.exit_code == 2 and "no CUDA" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_predict_settings_from_config_file(run_cli, example_stack, tiny_weights, tmp_path):
    config = tmp_path / "glaciermap.toml"
    config.write_text(
        "[predict]\nwindow = 128\noverlap = 0.25\nbatch-size = 3\nvectorize = false\n"
    )
    out = tmp_path / "cfg"
    result = run_cli(
        "--config", config, "predict", tiny_weights, "--stack", example_stack, "-o", out
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "predict.json").read_text())
    assert (record["config"]["window"], record["config"]["overlap"]) == (128, 0.25)
    assert record["config"]["batch_size"] == 3
    assert not (out / "outlines.gpkg").exists()


def test_windows_without_data_skip_the_model():
    image = np.full((1, 1, 96, 96), np.nan, dtype=np.float32)
    image[:, :, :20, :20] = 3.0  # data in one corner only
    plan = plan_windows(96, 96, 32, 0.5)
    seen: list[int] = []

    def model(x):
        seen.append(len(x))
        return x[:, 0, 0]

    result, _, sink = _collect(96, 96)
    sweep(plan, _array_reader(image), model, sink, batch_size=4)
    assert seen == [4]  # one call: the four windows that touch the 20 x 20 corner
    np.testing.assert_allclose(result[:20, :20], 3.0, rtol=1e-6)
    assert np.isnan(result[20:]).all() and np.isnan(result[:, 20:]).all()


class _RegionReader:
    """The in-memory reader with ``read_region``, so the sweep reads strips and slices windows."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.reads = 0

    def read_region(self, row: int, col: int, height: int, width: int):
        self.reads += 1
        h, w = self.image.shape[-2:]
        out = np.full((*self.image.shape[:2], height, width), np.nan, dtype=np.float32)
        out[..., : h - row, : w - col] = self.image[..., row : row + height, col : col + width]
        return np.nan_to_num(out, nan=0.0), np.isfinite(out).any(axis=(0, 1))

    def __call__(self, row: int, col: int, size: int):
        return self.read_region(row, col, size, size)


def test_strip_reading_gives_the_same_result_with_fewer_reads():
    rng = np.random.default_rng(5)
    image = rng.normal(size=(2, 1, 70, 5000)).astype(np.float32)
    image[:, :, 30:40, 2040:2100] = np.nan  # no data across a strip boundary
    plan = plan_windows(70, 5000, 64, 0.5)
    strips, _, sink_strips = _collect(70, 5000)
    reader = _RegionReader(image)
    sweep(plan, reader, lambda x: x[:, 1, 0] * 2, sink_strips, batch_size=3)
    windows, _, sink_windows = _collect(70, 5000)
    sweep(plan, _array_reader(image), lambda x: x[:, 1, 0] * 2, sink_windows, batch_size=3)
    np.testing.assert_array_equal(strips, windows)
    assert reader.reads == len(plan.rows) * 3 < plan.count  # 5000 px = 3 strips of <= 2048
    parallel, _, sink_parallel = _collect(70, 5000)
    sweep(plan, _RegionReader(image), lambda x: x[:, 1, 0] * 2, sink_parallel, readers=3)
    np.testing.assert_array_equal(parallel, windows)  # strips read by 3 threads, same order


def test_batches_come_channels_innermost(example_stack):
    """The reader lays batches out with C innermost, so the prepared model converts nothing."""
    import torch

    from glaciermap.models.inference import channels_innermost
    from glaciermap.predict.reader import StackWindows, batches
    from glaciermap.predict.sliding import plan_windows

    reader = StackWindows(example_stack / "stack.vrt", range(1, 7), 3, np.zeros(2), np.ones(2))
    plan = plan_windows(reader.height, reader.width, 64, 0.5)
    _, x, _ = next(batches(plan, reader, 3))
    tensor = torch.from_numpy(x)
    assert tensor.shape == (3, 3, 2, 64, 64)
    assert channels_innermost(tensor).data_ptr() == tensor.data_ptr()
    for i, (row, col) in enumerate(list(plan)[:3]):
        expected, _ = reader(row, col, 64)
        assert np.array_equal(x[i], expected)


def test_predict_does_not_import_triton():
    """torch.utils.flop_counter pulls in triton (~100 MB resident); predict's imports must not."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import glaciermap.models, glaciermap.predict.engine, glaciermap.models.inference\n"
        "print('TRITON', 'triton' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "TRITON False" in out.stdout


def test_reader_defaults_per_device():
    """CPU keeps the cores for the model; CUDA reads ahead with several strips at once."""
    from glaciermap.predict.reader import default_prefetch, default_readers
    from glaciermap.workers import available_cpus

    assert default_prefetch(-1, "cpu") == 1 and default_prefetch(-1, "cuda") == 2
    assert default_prefetch(0, "cuda") == 0
    assert default_readers(0, "cpu") == 1 and default_readers(3, "cpu") == 3
    assert default_readers(0, "cuda") == max(1, min(4, available_cpus() // 2))


def test_every_model_call_has_batch_size_windows():
    """The last batch is padded with zeros: a window's prediction must not depend on how many
    windows share its call (see sweep), and the blocks of a cluster end their batches elsewhere."""
    image = np.random.default_rng(1).normal(size=(1, 1, 70, 90)).astype(np.float32)
    plan = plan_windows(70, 90, 32, 0.5)  # 4 x 5 windows
    seen: list[int] = []

    def model(x):
        seen.append(len(x))
        return x[:, 0, 0]

    result, _, sink = _collect(70, 90)
    sweep(plan, _array_reader(image), model, sink, batch_size=3)
    assert seen == [3] * 7  # 20 windows: six full batches and a padded seventh
    np.testing.assert_allclose(result, image[0, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("overlap", [0.0, 0.5, 0.75])
@pytest.mark.parametrize(
    ("height", "width", "side"), [(150, 97, 40), (64, 64, 64), (20, 45, 7), (33, 200, 50)]
)
def test_blocks_with_their_halo_give_the_bits_of_one_sweep(overlap, height, width, side):
    """Each block sweeps the global plan's windows that reach it: its pixels get the same windows in
    the same order as in one sweep, so the blend is the same to the bit (no data included)."""
    from glaciermap.predict.blocks import OffsetReader, block_plan, owned_windows, plan_blocks

    rng = np.random.default_rng(height + width + side)
    image = rng.normal(size=(2, 2, height, width)).astype(np.float32)
    image[:, :, height // 3 : height // 2, : width // 4] = np.nan  # no data in a corner band

    def model(x: np.ndarray) -> np.ndarray:  # one window's output depends on that window only
        return np.tanh(1.7 * x[:, 0, 0] + x[:, 1, 1] * x[:, 0, 1]).astype(np.float32)

    plan = plan_windows(height, width, 32, overlap)
    whole, _, sink = _collect(height, width)
    sweep(plan, _RegionReader(image), model, sink, batch_size=3)
    pieces = np.full((height, width), -1.0, dtype=np.float32)
    blocks = plan_blocks(height, width, side)
    for block in blocks:
        sub, top, left = block_plan(plan, block)

        def keep(row0, values, valid, block=block, top=top, left=left):
            for r, line in enumerate(values, start=top + row0):
                if block.row0 <= r < block.row1:
                    pieces[r, block.col0 : block.col1] = line[block.col0 - left : block.col1 - left]

        sweep(sub, OffsetReader(_RegionReader(image), top, left), model, keep, batch_size=3)
    np.testing.assert_array_equal(pieces, whole)  # NaN where no data, in both
    assert sum(owned_windows(plan, b) for b in blocks) == plan.count
