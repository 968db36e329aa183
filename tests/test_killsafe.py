"""kill -9, two writers at once, SIGTERM and SIGINT: every writing stage survives them (issue 15).

Each stage runs as a real ``glaciermap`` process (``tests/fakes/killer.py``) stopped at a chosen point:
SIGKILL as a hidden file is about to take its final name or inside the work, a pause while a second
writer tries the same output, SIGTERM or SIGINT from outside. The rerun (in this process) must leave
what an uninterrupted run writes (:mod:`fakes.trees`: rasters and zips byte for byte, GeoPackages
feature for feature) and nothing hidden: no temporary file, no lock. The scene is a 4 x 2 km region of
two tiles with three 24-day slots, built once with the CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes.tiny import TINY_TOML
from fakes.trees import assert_same_tree, hidden

ROOT = Path(__file__).resolve().parents[1]
KILLER = ROOT / "tests" / "fakes" / "killer.py"
WEIGHTS = "ablation/unet3d-3acq"


@dataclass(frozen=True)
class Scene:
    """The tiny region's products and each stage's uninterrupted output, made with the CLI."""

    root: Path

    @property
    def options(self) -> list[str]:
        return ["--config", str(self.root / "glaciermap.toml"), "-w", str(self.root / "ws")]

    def baseline(self, stage: str) -> Path:
        return self.root / stage

    @property
    def products(self) -> Path:
        return self.baseline("simulate")


def simulate_args(scene: Scene, out: Path) -> list[str]:
    return [
        *[
            "simulate",
            "-r",
            "tiny",
            "-y",
            "2016",
            "--acquisitions",
            "3",
            "--no-cross-pol",
            "-j",
            "1",
        ],
        "-o",
        str(out),
    ]


def preprocess_args(scene: Scene, out: Path) -> list[str]:
    inventory = scene.products / "truth" / "outlines.gpkg"
    options = [
        "-r",
        "tiny",
        "-y",
        "2016",
        "--acquisitions",
        "3",
        "--min-acquisitions",
        "2",
        "-j",
        "1",
    ]
    return [
        "preprocess",
        str(scene.products),
        "-o",
        str(out),
        "--inventory",
        str(inventory),
        *options,
    ]


def predict_args(scene: Scene, out: Path) -> list[str]:
    stack = scene.baseline("preprocess")
    options = ["--device", "cpu", "--window", "128", "--overlap", "0.25"]
    return ["predict", WEIGHTS, "--stack", str(stack), "-o", str(out), *options]


def vectorize_args(scene: Scene, out: Path) -> list[str]:
    raster = scene.baseline("predict") / "probability.tif"
    return ["vectorize", str(raster), "-o", str(out / "outlines.gpkg"), "-j", "1"]


def diff_args(scene: Scene, out: Path) -> list[str]:
    new = scene.baseline("predict") / "outlines.gpkg"
    reference = scene.products / "truth" / "inventory_2006.gpkg"
    outputs = ["-o", str(out / "changes.gpkg"), "--plot", str(out / "changes.png")]
    return ["diff", str(new), str(reference), *outputs]


COMMANDS: dict[str, Callable[[Scene, Path], list[str]]] = {
    "simulate": simulate_args,
    "preprocess": preprocess_args,
    "predict": predict_args,
    "vectorize": vectorize_args,
    "diff": diff_args,
}
FILE_OUTPUTS = ("vectorize", "diff")
"""Stages whose outputs are files in a folder that must exist (the others create their folder)."""
AGAIN = {"simulate": ["--overwrite"], "predict": ["--overwrite"], "diff": ["--overwrite"]}
"""What a rerun adds: the stages that refuse existing outputs are told to replace what the killed
run finished."""


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Scene:
    from glaciermap.cli.main import main

    scene = Scene(tmp_path_factory.mktemp("killsafe"))
    (scene.root / "glaciermap.toml").write_text(TINY_TOML)
    for stage, command in COMMANDS.items():
        out = scene.baseline(stage)
        if stage in FILE_OUTPUTS:
            out.mkdir()
        assert main([*scene.options, *command(scene, out)]) == 0, stage
    return scene


def glaciermap(
    args: list[str], *, at: str | None = None, then: str = "kill", **popen: object
) -> subprocess.Popen[str]:
    """``glaciermap ARGS`` in a process of its own that stops itself ``at`` a point (fakes.killer)."""
    command = [sys.executable, str(KILLER)]
    if at is not None:
        command += ["--at", at, "--then", then]
    marker = popen.pop("marker", None)
    if marker is not None:
        command += ["--marker", str(marker)]
    path = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "COLUMNS": "200"}
    return subprocess.Popen(
        [*command, "--", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def paused(marker: Path, process: subprocess.Popen[str]) -> int:
    """Wait until ``process`` pauses at its point (it writes ``marker``); its pid."""
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process.pid


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------
# The output lock, the sweep and the signals, alone


def _dead_holder(tmp_path: Path) -> str:
    from glaciermap.io.lock import Holder, now_iso

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return Holder(child.pid, os.uname().nodename, now_iso(), ("glaciermap", "predict")).to_json()


def test_an_output_held_elsewhere_is_refused_naming_the_holder(tmp_path):
    from fakes.lockholder import lock_held_elsewhere

    from glaciermap.errors import OutputLockedError
    from glaciermap.io.lock import OutputLock

    out = tmp_path / "pred"
    with lock_held_elsewhere(out, output=True) as holder:
        with pytest.raises(OutputLockedError) as caught:
            OutputLock(out, folder=True).acquire()
        assert caught.value.exit_code == 75
        assert str(caught.value).startswith(
            f"{out} is being written by another glaciermap process (pid {holder.pid}, started "
        )
    with OutputLock(out, folder=True) as lock:
        assert lock.previous is None  # the holder let go cleanly
    assert not (tmp_path / ".pred.lock").exists()


def test_a_dead_writer_s_lock_is_taken_over_and_only_its_files_swept(tmp_path):
    from fakes.lockholder import lock_held_elsewhere

    from glaciermap.io.lock import OutputLock

    out = tmp_path / "pred"
    (out / "sub").mkdir(parents=True)
    (tmp_path / ".pred.lock").write_text(_dead_holder(tmp_path))
    dead = [
        out / ".probability.tif.0123abcd.stream.tif",
        out / ".predict.89abcdef.partial.json",
        out / "sub" / ".tile.fedcba98.partial.tif",
        out / ".old.gpkg.lock",  # a killed writer's lock inside: nobody holds it
    ]
    live = [out / ".outlines.0123abcd.partial.gpkg", out / "busy" / ".x.0123abcd.partial.tif"]
    # Another process writes outlines.gpkg and the folder busy/ in it: their files are not litter.
    with (
        lock_held_elsewhere(out / "outlines.gpkg", output=True),
        lock_held_elsewhere(out / "busy", output=True),
    ):
        for path in [*dead, *live]:
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"half")
        with OutputLock(out, folder=True) as lock:
            assert lock.previous is not None and lock.previous.argv == ("glaciermap", "predict")
            assert sorted(lock.swept) == sorted(dead)
            assert all(p.exists() for p in live) and not any(p.exists() for p in dead)
            with OutputLock(out, folder=True) as again:  # reentrant: the library locks again
                assert again.swept == []
            assert lock.held
        assert not (tmp_path / ".pred.lock").exists()  # a clean end leaves no lock


def test_a_signal_raises_interrupted_with_its_exit_code_and_note():
    from glaciermap import interrupt

    with interrupt.handling():
        with pytest.raises(interrupt.Interrupted) as caught, interrupt.noting(lambda: "2 of 3"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted long before
        assert caught.value.exit_code == 143 and interrupt.received() == signal.SIGTERM
        assert interrupt.finished() == "2 of 3"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# ----------------------------------------------------------------------------------------------------
# kill -9, then a rerun


@pytest.mark.parametrize(
    ("stage", "at"),
    [
        ("simulate", "rename:1"),  # the first product zip
        ("simulate", "rename:7"),  # every zip written, the truth begins
        ("simulate", "rename:12"),  # simulation.json, last
        ("preprocess", "rename:1"),  # the first tile
        ("preprocess", "rename:4"),  # tiles and labels written
        ("preprocess", "rename:7"),  # stack.json, last
        ("predict", "rename:1"),  # the first COG of the streamed rasters
        ("predict", "rename:4"),  # the outlines, after the rasters and predict.json
        ("vectorize", "call:glaciermap.vectorize.pipeline:clean_outlines:1"),  # polygonising
        ("vectorize", "rename:1"),  # the GeoPackage
        ("diff", "rename:1"),  # the GeoPackage
        ("diff", "rename:2"),  # the map, after the GeoPackage
    ],
)
def test_a_killed_stage_is_finished_by_a_rerun_as_if_never_killed(
    scene, run_cli, tmp_path, stage, at
):
    out = tmp_path / stage
    if stage in FILE_OUTPUTS:
        out.mkdir()
    args = COMMANDS[stage](scene, out)
    code, err = finish(glaciermap([*scene.options, *args], at=at))
    assert code == -signal.SIGKILL, err[-3000:]
    if at.startswith("rename"):
        assert hidden(out), "the kill came before a temporary file was renamed"

    again = run_cli(*scene.options, *args, *AGAIN.get(stage, []))
    assert again.exit_code == 0, again.stderr
    assert not hidden(out)
    assert_same_tree(scene.baseline(stage), out)


def train_args(stack: Path, out: Path) -> list[str]:
    recipe = ["--epochs", "3", "--patch", "64", "--batch-size", "2", "--samples-per-epoch", "4"]
    recipe += ["--widths", "8,16", "--workers", "0", "--device", "cpu", "--threads", "1"]
    return ["train", "--stack", str(stack), "-o", str(out), *recipe]


@pytest.fixture(scope="module")
def trained(example_stack, tmp_path_factory) -> Path:
    """Three epochs of a tiny model on the shared example stack, uninterrupted."""
    from glaciermap.cli.main import main

    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(train_args(example_stack, out)) == 0
    return out


@pytest.mark.parametrize("at", ["rename:1:last.pt", "rename:2:last.pt"])
def test_a_killed_training_resumes_from_its_checkpoint_as_if_never_killed(
    example_stack, trained, run_cli, tmp_path, at
):
    out = tmp_path / "run"
    code, err = finish(glaciermap(train_args(example_stack, out), at=at))
    assert code == -signal.SIGKILL, err[-3000:]
    assert hidden(out)  # the checkpoint that was about to land

    again = run_cli(*train_args(example_stack, out))
    assert again.exit_code == 0, again.stderr
    assert not hidden(out)
    # The resume state is internal and TensorBoard writes one event file per process.
    assert_same_tree(trained, out, skip=("tensorboard", "last.pt"))


TOKEN = "EDL-SECRET-TOKEN-0123456789"


@pytest.fixture
def services(tmp_path, monkeypatch):
    """The fake CMR, HyP3 and bucket (fakes.services), with jobs that finish as they are watched."""
    pytest.importorskip("asf_search")
    pytest.importorskip("trustme")
    from fakes.services import fake_services

    from glaciermap.regions import BUILTIN_REGIONS
    from glaciermap.simulate.catalogue import simulated_scenes

    scenes = simulated_scenes(BUILTIN_REGIONS["synthetic"], 2016, seed=2016)
    with fake_services(tmp_path, monkeypatch, scenes, token=TOKEN, auto_advance=True) as served:
        yield served


@pytest.mark.parametrize(
    "at",
    [
        "rename:1",  # the first product folder
        "rename:7",  # half of them
        "call:glaciermap.interrupt:check:3",  # inside a transfer
    ],
)
def test_a_killed_download_is_finished_by_a_rerun_as_if_never_killed(
    services, run_cli, tmp_path, at
):
    cmr, hyp3, _ = services
    args = ["download", "-r", "synthetic", "-y", "2016", "--acquisitions", "3", "--watch"]
    args += ["--search-host", cmr.host, "--hyp3-url", hyp3.api.url, "--poll", "0", "-j", "1"]
    first = run_cli("-w", tmp_path / "first", *args)
    assert first.exit_code == 0, first.stderr
    code, err = finish(glaciermap(["-w", str(tmp_path / "ws"), *args], at=at))
    assert code == -signal.SIGKILL, err[-3000:]
    raw = tmp_path / "ws" / "raw" / "synthetic" / "2016"
    assert hidden(raw)

    again = run_cli("-w", tmp_path / "ws", *args)
    assert again.exit_code == 0, again.stderr
    assert not hidden(raw)
    assert_same_tree(tmp_path / "first" / "raw" / "synthetic" / "2016", raw)
    # The catalog knows every file: a third run fetches nothing.
    third = run_cli("-w", tmp_path / "ws", *args)
    assert third.exit_code == 0 and "files: 0 fetched" in third.stdout, third.stdout


# ----------------------------------------------------------------------------------------------------
# Two writers of one output


@pytest.mark.parametrize("stage", ["preprocess", "predict", "vectorize"])
def test_a_second_writer_stops_naming_the_first_which_finishes_alone(
    scene, run_cli, tmp_path, stage
):
    out = tmp_path / stage
    if stage in FILE_OUTPUTS:
        out.mkdir()
    args = COMMANDS[stage](scene, out)
    marker = tmp_path / "paused"
    first = glaciermap([*scene.options, *args], at="rename:1", then="pause", marker=marker)
    try:
        pid = paused(marker, first)
        second = run_cli(*scene.options, *args, *AGAIN.get(stage, []))
        assert second.exit_code == 75, second.stderr
        assert len(lines(second.stderr)) == 1, second.stderr
        [line] = lines(second.stderr)
        written = out / "outlines.gpkg" if stage in FILE_OUTPUTS else out
        assert line.startswith(
            f"try later: {written} is being written by another glaciermap process (pid {pid}, "
        )
        assert "killer.py --at rename:1 --then pause" in line  # the holder's command
    finally:
        Path(f"{marker}.go").touch()
    code, err = finish(first)
    assert code == 0, err[-3000:]
    assert not hidden(out)
    assert_same_tree(scene.baseline(stage), out)


# ----------------------------------------------------------------------------------------------------
# SIGTERM and SIGINT


@pytest.mark.parametrize(
    ("stage", "at", "signum", "done"),
    [
        # The parent pauses for its second tile (the workers go on) and counts the one it had.
        pytest.param(
            "preprocess",
            "call:concurrent.futures._base:Future.result:2",
            signal.SIGTERM,
            "interrupted by SIGTERM: 1 of 9 tiles written, the stack is not complete; run again to "
            "build it",
            id="preprocess-SIGTERM",
        ),
        pytest.param(
            "preprocess",
            "call:concurrent.futures._base:Future.result:2",
            signal.SIGINT,
            "interrupted: 1 of 9 tiles written, the stack is not complete; run again to build it",
            id="preprocess-SIGINT",
        ),
        pytest.param(
            "predict",
            "call:glaciermap.predict.sliding:RowBlender.add:5",
            signal.SIGTERM,
            "interrupted by SIGTERM: 4 of 8 windows predicted, nothing written; run again",
            id="predict-SIGTERM",
        ),
        pytest.param(
            "predict",
            "rename:1",
            signal.SIGINT,
            "interrupted: 8 of 8 windows predicted, nothing written; run again",
            id="predict-SIGINT",
        ),
    ],
)
def test_sigterm_and_sigint_stop_cleanly_with_one_line_and_a_rerun_completes(
    scene, example_stack, run_cli, tmp_path, stage, at, signum, done
):
    out = tmp_path / stage
    if stage == "preprocess":
        # The example scene's nine tiles on two workers: the pool is stopped mid-way.
        products = example_stack.parent / "products"
        inventory = products / "truth" / "outlines.gpkg"
        options = ["-r", "example", "-y", "2016", "--acquisitions", "4", "-j", "2"]
        args = [
            "preprocess",
            str(products),
            "-o",
            str(out),
            "--inventory",
            str(inventory),
            *options,
        ]
        baseline = example_stack
    else:
        args, baseline = COMMANDS[stage](scene, out), scene.baseline(stage)
    marker = tmp_path / "paused"
    # A session of its own: SIGINT goes to the process group, as Ctrl-C on a terminal does.
    quiet = [*scene.options, "-q", *args]  # progress off: the one line is what is left
    process = glaciermap(quiet, at=at, then="pause", marker=marker, start_new_session=True)
    pid = paused(marker, process)
    if signum == signal.SIGINT:
        os.killpg(pid, signum)
    else:
        os.kill(pid, signum)
    code, err = finish(process)
    assert code == 128 + signum, err[-3000:]
    # The 3-date weights on a stack of other dates also warn (and go on): that line is not the stop's.
    assert [line for line in lines(err) if not line.startswith("warning:")] == [done]
    assert not hidden(out)
    if stage == "preprocess":  # no worker outlived the stop to rename a tile into place
        time.sleep(0.5)
        assert not hidden(out)

    again = run_cli(*scene.options, *args)
    assert again.exit_code == 0, again.stderr
    assert not hidden(out)
    assert_same_tree(baseline, out)
