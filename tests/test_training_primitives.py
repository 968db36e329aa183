"""training: focal loss, confusion counts, augmentations, acquisition selection, stack datasets, schedule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLE_STACK_SLOTS  # noqa: E402

from glaciermap.regions import BUILTIN_REGIONS  # noqa: E402
from glaciermap.training.augment import (  # noqa: E402
    Compose,
    GaussianNoise,
    RandomContrast,
    RandomFlip,
    RandomResizedCrop,
    RandomRot90,
    RectangularDropout,
    default_augment,
)
from glaciermap.training.dataset import StackPatches, StackTiles  # noqa: E402
from glaciermap.training.losses import FocalLoss  # noqa: E402
from glaciermap.training.metrics import ConfusionCounts  # noqa: E402
from glaciermap.training.schedule import cycle_ends, warm_restart_schedule  # noqa: E402

REGION = BUILTIN_REGIONS["example"]
YEAR = 2016
SLOTS = EXAMPLE_STACK_SLOTS

# ------------------------------------------------------------------------------------------------
# Focal loss


def _hand_focal(z: float, y: int, gamma: float, alpha: float | None, eps: float) -> float:
    p = 1 / (1 + math.exp(-z))
    t = y * (1 - eps) + eps / 2
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1 - alpha)
    pos = a_pos * t * (1 - p) ** gamma * -math.log(p)
    neg = a_neg * (1 - t) * p**gamma * -math.log(1 - p)
    return pos + neg


def test_focal_loss_matches_hand_computation():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]])
    labels = torch.tensor([[[1, 0], [0, 255]]], dtype=torch.uint8)
    for gamma, alpha, eps in [(2.0, 0.25, 0.1), (0.0, None, 0.0), (1.5, None, 0.2)]:
        loss = FocalLoss(gamma=gamma, alpha=alpha, label_smoothing=eps)(logits, labels)
        expected = np.mean(
            [_hand_focal(z, y, gamma, alpha, eps) for z, y in [(2.0, 1), (-1.0, 0), (0.5, 0)]]
        )
        assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_focal_loss_reduces_to_bce_and_ignores_255():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    labels = torch.randint(0, 2, (2, 8, 8), dtype=torch.uint8)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], labels.float())
    plain = FocalLoss(gamma=0.0, alpha=None, label_smoothing=0.0)
    assert plain(logits, labels).item() == pytest.approx(bce.item(), rel=1e-5)
    # Changing logits under ignored labels changes nothing.
    ignored = labels.clone()
    ignored[:, :4] = 255
    loss = FocalLoss()
    other = logits.clone()
    other[:, :, :4] = 100.0
    assert loss(logits, ignored).item() == pytest.approx(loss(other, ignored).item(), rel=1e-6)
    # All ignored: 0, with a gradient of zeros.
    z = logits.clone().requires_grad_(True)
    value = loss(z, torch.full_like(labels, 255))
    value.backward()
    assert value.item() == 0.0
    assert torch.all(z.grad == 0)


def test_focal_loss_smoothing_and_stability():
    loss = FocalLoss(gamma=2.0, alpha=None, label_smoothing=0.1)
    sharp = FocalLoss(gamma=2.0, alpha=None, label_smoothing=0.0)
    labels = torch.ones(1, 1, 1, dtype=torch.long)
    very_sure = torch.full((1, 1, 1, 1), 30.0)
    # Smoothing penalises over-confidence: a very confident correct logit still costs something.
    assert sharp(very_sure, labels).item() < 1e-12
    assert loss(very_sure, labels).item() > 1.0
    z = torch.tensor([[[[-200.0, 200.0, 0.0]]]], requires_grad=True)
    y = torch.tensor([[[1, 0, 1]]], dtype=torch.uint8)
    value = FocalLoss()(z, y)
    value.backward()
    assert torch.isfinite(value)
    assert torch.all(torch.isfinite(z.grad))
    # The gradient pushes the wrong logits the right way.
    assert z.grad[0, 0, 0, 0] < 0 < z.grad[0, 0, 0, 1]


# ------------------------------------------------------------------------------------------------
# Metrics


def test_confusion_counts_known_values_and_ignore():
    probs = np.array([[0.9, 0.8, 0.2, 0.1], [0.7, 0.3, 0.6, 0.4]])
    labels = np.array([[1, 0, 1, 0], [255, 255, 1, 0]], dtype=np.uint8)
    counts = ConfusionCounts().update(probs, labels)
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (2, 1, 1, 2)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 / 3)
    assert counts.iou == pytest.approx(0.5)
    # Torch logits (B, 1, H, W) give the same counts as probabilities.
    logits = torch.logit(torch.tensor(probs, dtype=torch.float32))[None, None]
    from_torch = ConfusionCounts().update(logits, torch.from_numpy(labels)[None], logits=True)
    assert from_torch == counts
    assert ConfusionCounts().iou != ConfusionCounts().iou  # NaN when undefined


def test_confusion_counts_merge():
    rng = np.random.default_rng(0)
    probs = rng.random((4, 16, 16))
    labels = rng.integers(0, 2, (4, 16, 16)).astype(np.uint8)
    labels[:, :3] = 255
    whole = ConfusionCounts().update(probs, labels)
    parts = [ConfusionCounts().update(probs[i], labels[i]) for i in range(4)]
    merged = ConfusionCounts()
    for part in parts:
        merged.merge(part)
    assert merged == whole
    assert sum(parts, ConfusionCounts()) == whole
    assert whole.total == 4 * 13 * 16
    assert ConfusionCounts.from_tensor(whole.as_tensor()) == whole


# ------------------------------------------------------------------------------------------------
# Augmentations


def _marked_sample(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((3, 2, size, size), dtype=np.float32)
    label = np.zeros((size, size), dtype=np.uint8)
    x[:, :, 5:9, 20:24] = 10.0  # a marker block
    label[5:9, 20:24] = 1
    label[25:, :4] = 255
    x[:, :, 25:, :4] = np.nan
    return x, label


@pytest.mark.parametrize(
    "transform",
    [
        RandomFlip(),
        RandomRot90(),
        RandomResizedCrop(scale=(0.7, 0.9)),
        Compose(default_augment().transforms[:3]),  # the geometric part of the default set
    ],
    ids=["flip", "rot90", "crop", "geometric"],
)
def test_geometric_augmentations_keep_label_aligned(transform):
    base_x, base_label = _marked_sample()
    for seed in range(12):
        x, label = transform(base_x.copy(), base_label.copy(), np.random.default_rng(seed))
        assert x.shape == base_x.shape and label.shape == base_label.shape
        assert set(np.unique(label)) <= {0, 1, 255}
        # 255 stays 255, exactly where the input became nodata.
        nodata = np.isnan(x).all(axis=(0, 1))
        np.testing.assert_array_equal(label == 255, nodata)
        # The marker moved with the label: same place (bilinear input blurs only its rim).
        marker = label == 1
        bright = np.nan_to_num(x[0, 0]) > 5.0
        if not marker.any():  # cropped away (by the default crop scale): gone from the input too
            assert not bright.any()
            continue
        assert (marker & bright).sum() / (marker | bright).sum() > 0.6
        centre = np.argwhere(marker).mean(axis=0)
        assert np.abs(centre - np.argwhere(bright).mean(axis=0)).max() < 1.0
        assert np.all(x[:, :, marker] > 0.5)
        if isinstance(transform, RandomFlip | RandomRot90):
            assert marker.sum() == 16 and (label == 255).sum() == 7 * 4
            assert np.array_equal(marker, bright)


def test_augmentations_are_seeded_and_radiometric_ones_keep_label():
    x, label = _marked_sample()
    augment = default_augment()
    a = augment(x.copy(), label.copy(), np.random.default_rng(3))
    b = augment(x.copy(), label.copy(), np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].dtype == np.float32 and a[1].dtype == np.uint8
    for transform in (RandomContrast(), GaussianNoise(sigma=(0.1, 0.1))):
        out, lab = transform(x.copy(), label.copy(), np.random.default_rng(0))
        np.testing.assert_array_equal(lab, label)
        assert np.array_equal(np.isnan(out), np.isnan(x))
    out, lab = RectangularDropout(ignore_label=True)(
        x.copy(), label.copy(), np.random.default_rng(1)
    )
    dropped = np.isnan(out).all(axis=(0, 1)) & ~np.isnan(x).all(axis=(0, 1))
    assert dropped.any() and np.all(lab[dropped] == 255)


# ------------------------------------------------------------------------------------------------
# Acquisitions


# ------------------------------------------------------------------------------------------------
# Stack datasets (a simulated example year, built here so the tests never depend on `make demo`)


@pytest.fixture(scope="module")
def stack_dir(example_stack) -> Path:
    """The shared simulated example stack (tests/conftest.py)."""
    return example_stack


def test_tile_placement_matches_files(stack_dir):
    import rasterio

    patches = StackPatches(stack_dir, patch=64, samples_per_epoch=4, acquisitions=SLOTS)
    for place in patches.places:
        with rasterio.open(stack_dir / "tiles" / f"{place.tile_id}.tif") as src:
            assert (src.width, src.height) == (place.width, place.height)
            assert src.transform.c == pytest.approx(REGION.origin[0] + place.col0 * 10.0)
            assert src.transform.f == pytest.approx(REGION.origin[1] - place.row0 * 10.0)


def test_stack_patches_shapes_labels_and_determinism(stack_dir):
    import json

    meta = json.loads((stack_dir / "stack.json").read_text())
    patches = StackPatches(
        stack_dir,
        patch=384,
        samples_per_epoch=6,
        acquisitions=SLOTS,
        augment=default_augment(),
        seed=7,
    )
    assert patches.tiles == [t for t in meta["tiles"] if meta["splits"][t] == "train"]
    x, label = patches[0]
    assert x.shape == (SLOTS, 2, 384, 384) and x.dtype == torch.float32
    assert label.shape == (384, 384) and label.dtype == torch.uint8
    assert torch.isfinite(x).all()
    for i in range(len(patches)):
        assert set(torch.unique(patches[i][1]).tolist()) <= {0, 1, 255}
    # Same (seed, epoch, index) -> same sample, in a fresh instance too; another epoch differs.
    again = StackPatches(
        stack_dir,
        patch=384,
        samples_per_epoch=6,
        acquisitions=SLOTS,
        augment=default_augment(),
        seed=7,
    )
    assert torch.equal(again[3][0], patches[3][0]) and torch.equal(again[3][1], patches[3][1])
    again.set_epoch(1)
    assert not torch.equal(again[3][0], patches[3][0])
    # Fewer acquisitions: T follows, the missing slot is skipped.
    two = StackPatches(stack_dir, patch=96, samples_per_epoch=2, acquisitions=2)
    assert two[0][0].shape == (2, 2, 96, 96)
    assert not set(two.acquisition_indices) & set(meta["missing_slots"])


def test_stack_patches_normalised_and_split_only(stack_dir):
    patches = StackPatches(stack_dir, patch=128, samples_per_epoch=60, acquisitions=SLOTS, seed=1)
    values: list[list[np.ndarray]] = [[], []]
    for i in range(len(patches)):
        x, label = patches.sample(i)
        observed = label != 255
        for c in range(2):
            v = x[:, c][:, observed]
            values[c].append(v[v != 0.0])
    for c in range(2):
        v = np.concatenate(values[c])
        assert abs(float(v.mean())) < 0.25
        assert 0.6 < float(v.std()) < 1.4
    # A window over a val tile reads nothing from it: the read is nodata and the label 255.
    val = StackPatches(stack_dir, split="val", patch=64, samples_per_epoch=1, acquisitions=SLOTS)
    place = val.places[0]
    x, label = patches.reader.read_window(patches.places, place.row0 + 50, place.col0 + 50, 64, 64)
    # (the window lies inside a val tile; train tiles never cover it)
    assert np.isnan(x).all() and (label == 255).all()


def test_stack_tiles(stack_dir):
    tiles = StackTiles(stack_dir, split="test", acquisitions=SLOTS)
    assert len(tiles) >= 1
    sample = tiles[0]
    assert sample.x.shape == (SLOTS, 2, 200, 200)
    assert sample.label.shape == (200, 200) and sample.label.dtype == torch.uint8
    assert torch.isfinite(sample.x).all()
    assert set(torch.unique(sample.label).tolist()) <= {0, 1, 255}
    assert bool((sample.label[~sample.valid] == 255).all())
    assert [s.tile_id for s in tiles] == tiles.tiles


# ------------------------------------------------------------------------------------------------
# Schedule


def test_cycle_ends_and_warm_restarts():
    assert cycle_ends() == [10, 30, 70, 150]
    assert cycle_ends(5, 1, 3) == [5, 10, 15]
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    scheduler = warm_restart_schedule(optimizer)
    lrs = []
    for _ in range(150):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    restarts = [e for e in range(1, 150) if lrs[e] > lrs[e - 1]]
    assert restarts == [10, 30, 70]
    assert lrs[0] == pytest.approx(5e-4)
    assert lrs[149] < 1e-6


# ------------------------------------------------------------------------------------------------
# Scene-level augmentations (in physical units through the normalisation statistics)

SCENE_CHANNELS = ["copol_db", "coherence"]
SCENE_MEANS = [-12.0, 0.5]
SCENE_STDS = [4.0, 0.2]


def _scene_sample(t: int = 6, size: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(physical, normalised, label)``: dB around -12, coherence in [0.2, 0.9], a NaN corner."""
    rng = np.random.default_rng(0)
    physical = np.empty((t, 2, size, size), dtype=np.float32)
    physical[:, 0] = rng.normal(-12.0, 4.0, size=(t, size, size))
    physical[:, 1] = rng.uniform(0.2, 0.9, size=(t, size, size))
    physical[:, :, :3, :3] = np.nan
    mean = np.asarray(SCENE_MEANS, np.float32)[None, :, None, None]
    std = np.asarray(SCENE_STDS, np.float32)[None, :, None, None]
    label = rng.integers(0, 2, size=(size, size)).astype(np.uint8)
    label[:3, :3] = 255
    return physical, (physical - mean) / std, label


def _physical(x: np.ndarray) -> np.ndarray:
    mean = np.asarray(SCENE_MEANS, np.float32)[None, :, None, None]
    std = np.asarray(SCENE_STDS, np.float32)[None, :, None, None]
    return x * std + mean


def test_scene_offsets_are_in_db():
    from glaciermap.training.augment import DateOffset, SceneOffset

    physical, x, label = _scene_sample()
    out, lab = SceneOffset((0,), (4.0,), db=(3.0, 3.0))(x, label, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32 and lab is label
    diff = _physical(out) - physical
    np.testing.assert_allclose(diff[:, 0][np.isfinite(diff[:, 0])], 3.0, atol=1e-4)
    np.testing.assert_array_equal(out[:, 1], x[:, 1])  # coherence untouched
    assert np.array_equal(np.isnan(out), np.isnan(x))
    # Drawn in the range, one value per sample.
    for seed in range(10):
        out, _ = SceneOffset((0,), (4.0,))(x, label, np.random.default_rng(seed))
        d = np.unique(np.round((_physical(out) - physical)[:, 0][:, 5:, 5:], 3))
        assert len(d) == 1 and -3.0 <= d[0] <= 3.0
    # Per date: one offset per date, within +-1 dB.
    out, lab = DateOffset((0,), (4.0,))(x, label, np.random.default_rng(1))
    diff = (_physical(out) - physical)[:, 0, 5:, 5:]
    per_date = diff.reshape(len(diff), -1)
    assert np.allclose(per_date, per_date[:, :1], atol=1e-4)
    assert np.all(np.abs(per_date) <= 1.0 + 1e-4) and len(np.unique(per_date[:, 0].round(4))) > 1
    np.testing.assert_array_equal(lab, label)


def test_scene_gain_keeps_the_mean_and_scales_contrast():
    from glaciermap.training.augment import SceneGain

    physical, x, label = _scene_sample()
    out, lab = SceneGain((0,), gain=(1.2, 1.2))(x, label, np.random.default_rng(0))
    before, after = physical[:, 0], _physical(out)[:, 0]
    finite = np.isfinite(before)
    assert np.nanmean(after) == pytest.approx(np.nanmean(before), abs=1e-3)
    assert np.std(after[finite]) == pytest.approx(1.2 * np.std(before[finite]), rel=1e-4)
    np.testing.assert_array_equal(out[:, 1], x[:, 1])
    np.testing.assert_array_equal(lab, label)


def test_coherence_scale_multiplies_coherence_and_clips():
    from glaciermap.training.augment import CoherenceScale

    physical, x, label = _scene_sample()
    scale = CoherenceScale((1,), (0.5,), (0.2,), factor=(1.3, 1.3))
    out, lab = scale(x, label, np.random.default_rng(0))
    expected = np.clip(physical[:, 1] * 1.3, 0.0, 1.0)
    np.testing.assert_allclose(_physical(out)[:, 1], expected, atol=1e-5)
    assert np.nanmax(_physical(out)[:, 1]) <= 1.0 + 1e-6
    np.testing.assert_array_equal(out[:, 0], x[:, 0])
    np.testing.assert_array_equal(lab, label)


def test_drop_dates_blanks_whole_dates_like_missing_slots():
    from glaciermap.training.augment import DropDates

    _, x, label = _scene_sample(t=6)
    counts = set()
    for seed in range(20):
        out, lab = DropDates()(x, label, np.random.default_rng(seed))
        blank = np.isnan(out).all(axis=(1, 2, 3))
        counts.add(int(blank.sum()))
        np.testing.assert_array_equal(out[~blank], x[~blank])
        np.testing.assert_array_equal(lab, label)
    assert counts == {1, 2}  # 1 to T/3 dates
    _, short, short_label = _scene_sample(t=2)
    out, _ = DropDates()(short, short_label, np.random.default_rng(0))
    np.testing.assert_array_equal(out, short)  # too few dates to drop one


def test_speckle_is_multiplicative_noise_of_the_looks_drawn():
    from glaciermap.training.augment import Speckle

    physical, x, label = _scene_sample(t=4, size=64)
    out, lab = Speckle((0,), (4.0,), looks=(16.0, 16.0))(x, label, np.random.default_rng(0))
    noise = (_physical(out) - physical)[:, 0]
    noise = noise[np.isfinite(noise)]
    # 10 log10 of Gamma(16, 1/16): std about 4.34 / sqrt(16) dB, mean slightly below 0.
    assert float(noise.std()) == pytest.approx(10 / np.log(10) / 4.0, rel=0.1)
    assert -0.4 < float(noise.mean()) < 0.0
    np.testing.assert_array_equal(out[:, 1], x[:, 1])
    np.testing.assert_array_equal(lab, label)
    assert np.array_equal(np.isnan(out), np.isnan(x))


def test_scene_augment_is_seeded_and_keeps_shapes_and_label():
    from glaciermap.training.augment import scene_augment

    _, x, label = _scene_sample()
    augment = scene_augment(SCENE_CHANNELS, SCENE_MEANS, SCENE_STDS)
    a = augment(x.copy(), label.copy(), np.random.default_rng(4))
    b = augment(x.copy(), label.copy(), np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], label)
    assert a[0].shape == x.shape and a[0].dtype == np.float32
    changed = [
        not np.array_equal(augment(x, label, np.random.default_rng(s))[0], x, equal_nan=True)
        for s in range(5)
    ]
    assert any(changed)
    with pytest.raises(ValueError):
        scene_augment(SCENE_CHANNELS, SCENE_MEANS[:1], SCENE_STDS)


# ------------------------------------------------------------------------------------------------
# Several stacks


def test_pooled_statistics_are_those_of_all_pixels():
    import dataclasses

    from glaciermap.stack_format import ChannelNorm, StackMeta
    from glaciermap.training.scenes import pool_normalisation

    rng = np.random.default_rng(0)
    a, b = rng.normal(-10, 3, 3000), rng.normal(-14, 5, 1000)

    def meta(values: np.ndarray, count: bool = True):
        from glaciermap.stack_format import StackGrid

        norm = ChannelNorm(float(values.mean()), float(values.std()), len(values) if count else 0)
        return StackMeta(
            region=StackGrid("r", "EPSG:32633", (0.0, 0.0), 1000.0, 10.0, "R"),
            year=2016,
            dates=(),
            tiles=(),
            splits={},
            normalisation={"copol_db": norm, "coherence": dataclasses.replace(norm)},
        )

    pooled = pool_normalisation([meta(a), meta(b)])
    both = np.concatenate([a, b])
    assert pooled["copol_db"]["mean"] == pytest.approx(both.mean(), rel=1e-9)
    assert pooled["copol_db"]["std"] == pytest.approx(both.std(), rel=1e-9)
    assert pooled["copol_db"]["count"] == 4000
    assert pooled["stacks"] == 2 and pooled["weighting"] == "pixels"
    # Without counts the stacks weigh alike.
    equal = pool_normalisation([meta(a, count=False), meta(b)])
    assert equal["weighting"] == "equal" and equal["copol_db"]["count"] == 0
    assert equal["copol_db"]["mean"] == pytest.approx((a.mean() + b.mean()) / 2)
    # One stack: its own statistics, unchanged.
    assert pool_normalisation([meta(a)]) == meta(a).normalisation_json()


def test_scene_patches_draw_from_every_stack(stack_dir, shifted_stack):
    from conftest import SHIFT_DB

    from glaciermap.training.scenes import ScenePatches

    def scenes(**kw):
        settings = {"patch": 64, "samples_per_epoch": 24, "acquisitions": SLOTS, "seed": 5}
        return ScenePatches([stack_dir, shifted_stack], **{**settings, **kw})

    both = scenes()
    picks = [both.stack_of(i) for i in range(len(both))]
    assert set(picks) == {0, 1}
    # Deterministic per (seed, epoch, index), in a fresh instance too; another epoch draws anew.
    again = scenes()
    assert [again.stack_of(i) for i in range(len(again))] == picks
    np.testing.assert_array_equal(again.sample(7)[0], both.sample(7)[0])
    again.set_epoch(1)
    assert [again.stack_of(i) for i in range(len(again))] != picks
    # Per-stack normalisation (statistics None): the shifted copy's samples are the original's.
    i, j = picks.index(0), picks.index(1)
    twin = ScenePatches(
        [stack_dir, stack_dir.parent / stack_dir.name],
        patch=64,
        samples_per_epoch=24,
        acquisitions=SLOTS,
        seed=5,
    )  # the same folder twice is used once
    assert len(twin.parts) == 1 and {twin.stack_of(k) for k in range(24)} == {0}
    x_shift, label_shift = both.parts[1].draw(j, np.random.default_rng([5, 0, j, 1]))
    x_orig, label_orig = both.parts[0].draw(j, np.random.default_rng([5, 0, j, 1]))
    np.testing.assert_allclose(x_shift, x_orig, atol=1e-4)
    np.testing.assert_array_equal(label_shift, label_orig)
    # One set of statistics for both: the copy reads SHIFT_DB higher, in normalised units.
    meta = both.parts[0].reader.meta
    stats = meta.statistics()
    shared = ScenePatches(
        [stack_dir, shifted_stack],
        patch=64,
        samples_per_epoch=24,
        acquisitions=SLOTS,
        seed=5,
        statistics=stats,
    )
    rng = [5, 0, i, 1]
    a, _ = shared.parts[0].draw(i, np.random.default_rng(rng))
    b, _ = shared.parts[1].draw(i, np.random.default_rng(rng))
    observed = a[:, 0] != 0
    np.testing.assert_allclose(
        (b[:, 0] - a[:, 0])[observed], SHIFT_DB / stats[1][0], rtol=1e-3, atol=1e-3
    )
    # With one stack, the samples are StackPatches's.
    one = ScenePatches(stack_dir, patch=64, samples_per_epoch=4, acquisitions=SLOTS, seed=5)
    plain = StackPatches(stack_dir, patch=64, samples_per_epoch=4, acquisitions=SLOTS, seed=5)
    for k in range(4):
        np.testing.assert_array_equal(one.sample(k)[0], plain.sample(k)[0])


def test_scene_patches_refuse_stacks_that_disagree(stack_dir, tmp_path):
    import json

    from glaciermap.errors import InputError
    from glaciermap.training.scenes import ScenePatches

    doc = json.loads((stack_dir / "stack.json").read_text())
    other = dict(doc, channels=["copol_db", "crosspol_db"])
    other["normalisation"] = {
        **doc["normalisation"],
        "crosspol_db": doc["normalisation"]["coherence"],
    }
    (tmp_path / "chan").mkdir()
    (tmp_path / "chan" / "stack.json").write_text(json.dumps(other))
    with pytest.raises(InputError, match=r"chan has channels \[copol_db, crosspol_db\]"):
        ScenePatches([stack_dir, tmp_path / "chan"], patch=64, acquisitions=SLOTS)
    # Fewer dates: T differs.
    short = dict(doc, dates=doc["dates"][:2], missing_slots=[], missing={})
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "stack.json").write_text(json.dumps(short))
    with pytest.raises(InputError, match=f"short gives T=2 acquisitions.*T={SLOTS}"):
        ScenePatches([stack_dir, tmp_path / "short"], patch=64, acquisitions=SLOTS)
