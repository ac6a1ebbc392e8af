"""The CPUs a run may use (affinity and cgroup quotas, on cgroup files laid out as Linux lays them out) and the
motion gate on real frames of PETS: the empty scene with sensor noise does not wake it, a person walking does."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import PETS_VIDEO
from vision.core.cpus import available_cpus, cgroup_cpu_quota
from vision.perception.gate import GateSettings, MotionGate


def cgroup_v2(tmp_path: Path, limits: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "sys-fs-cgroup"
    for group, limit in limits.items():
        folder = root / group.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(limit + "\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/system.slice/footfall.service\n")
    return proc, root


def test_cgroup_v2_quota_and_no_quota(tmp_path: Path) -> None:
    proc, root = cgroup_v2(tmp_path, {"/": "max 100000", "/system.slice/footfall.service": "150000 100000"})
    assert cgroup_cpu_quota(proc, root) == 1.5
    proc, root = cgroup_v2(tmp_path / "b", {"/system.slice/footfall.service": "max 100000"})
    assert cgroup_cpu_quota(proc, root) is None


def test_cgroup_v2_nested_limits_take_the_tightest(tmp_path: Path) -> None:
    proc, root = cgroup_v2(
        tmp_path, {"/system.slice": "100000 100000", "/system.slice/footfall.service": "400000 100000"}
    )
    assert cgroup_cpu_quota(proc, root) == 1.0


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root = tmp_path / "sys-fs-cgroup"
    folder = root / "cpu,cpuacct" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("250000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    assert cgroup_cpu_quota(proc, root) == 2.5
    (folder / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(proc, root) is None


def test_no_cgroup_files(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path / "missing", tmp_path) is None


def test_available_cpus_is_the_affinity_here() -> None:
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


def pets_frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(PETS_VIDEO))
    frames = []
    while len(frames) < count:
        ok, image = capture.read()
        assert ok
        frames.append(image)
    capture.release()
    return frames


def test_gate_sleeps_on_a_noisy_empty_scene_and_wakes_for_people() -> None:
    frames = pets_frames(60)
    empty = np.median(np.stack(frames[::3]), axis=0).astype(np.uint8)
    rng = np.random.default_rng(0)
    gate = MotionGate(GateSettings())
    assert gate.moved(empty)  # the first picture counts as a change
    for _ in range(20):
        noisy = np.clip(empty.astype(np.int16) + rng.normal(0, 6, empty.shape), 0, 255).astype(np.uint8)
        assert not gate.moved(noisy), "sensor noise is not movement"
    gate = MotionGate(GateSettings())
    gate.moved(frames[0])
    moved = [gate.moved(frame) for frame in frames[1:60:2]]  # PETS at 3.5 fps: people walk in every frame
    assert all(moved)


def test_gate_decides_detection_with_tracks_and_the_longest_skip() -> None:
    frames = pets_frames(1)
    empty = frames[0]
    gate = MotionGate(GateSettings(max_skip_s=10.0))  # the longest skip set long, to see the motion test alone
    assert gate.needs_detection(empty, 0.0, tracking=False)  # the first frame
    assert not gate.needs_detection(empty, 0.2, tracking=False)
    assert gate.needs_detection(empty, 0.4, tracking=True), "someone is tracked: always detect"
    assert not gate.needs_detection(empty, 5.0, tracking=False)
    assert gate.needs_detection(empty, 10.4, tracking=False), "10 s since the detector last looked"
    off = MotionGate(GateSettings(enabled=False))
    assert all(off.needs_detection(empty, t, tracking=False) for t in (0.0, 0.2, 0.4))


@pytest.mark.parametrize(
    "settings",
    [{"width_px": 8}, {"diff_levels": 0}, {"min_area_px": 0.0}, {"max_skip_s": float("nan")}, {"max_skip_s": -1.0}],
)
def test_gate_settings_are_checked(settings: dict) -> None:
    with pytest.raises(ValueError):
        GateSettings(**settings)


def quiet_video(folder: Path, quiet_s: int = 12) -> Path:
    """PETS' first 10 s between `quiet_s` seconds of its empty scene (the temporal median of the whole clip, where
    nobody stands still for long) with sensor noise."""
    import subprocess

    frames = pets_frames(400)[::8]
    empty = folder / "empty.png"
    cv2.imwrite(str(empty), np.median(np.stack(frames), axis=0).astype(np.uint8))
    target = folder / "quiet.mp4"
    quiet = "fps=7,format=yuv420p,noise=alls=6:allf=t"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-loop", "1", "-framerate", "7", "-t", str(quiet_s), "-i", str(empty),
         "-i", str(PETS_VIDEO),
         "-loop", "1", "-framerate", "7", "-t", str(quiet_s), "-i", str(empty),
         "-filter_complex", f"[0:v]{quiet}[a];[1:v]trim=end_frame=70,setpts=PTS-STARTPTS,format=yuv420p[b];"
         f"[2:v]{quiet}[c];[a][b][c]concat=n=3:v=1[v]",
         "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", str(target)],
        check=True,
    )  # fmt: skip
    return target


def test_gating_skips_the_empty_scene_and_changes_no_result(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import pyarrow.dataset as ds

    from tests.helpers import TFLITE_MODEL

    video = quiet_video(tmp_path, quiet_s=6)
    tables, records = {}, {}
    for gate in ("--gate", "--no-gate"):
        out = tmp_path / gate
        command = [sys.executable, "-m", "vision", "run", str(video), "--model", str(TFLITE_MODEL), "--out", str(out)]
        result = subprocess.run([*command, gate], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        records[gate] = json.loads((out / "run.json").read_text())["cameras"][0]
        table = ds.dataset(out / "tracks", format="parquet", partitioning="hive").to_table()
        tables[gate] = table.drop_columns(["track"]).sort_by([("t", "ascending"), ("u", "ascending")])
    gated, ungated = records["--gate"], records["--no-gate"]
    assert gated["frames_analysed"] == ungated["frames_analysed"] == 22 * 5
    assert ungated["frames_gated"] == 0
    # 12 s of empty scene at 5 fps (60 frames), less the first frame, the frames while the last track fades (2 s
    # buffer) and one look a second whatever the motion test says (the longest skip, 1 s): measured 38
    assert 32 <= gated["frames_gated"] <= 44, gated["frames_gated"]
    assert gated["detections"] < ungated["detections"] or gated["detections"] == ungated["detections"]
    assert tables["--gate"].equals(tables["--no-gate"]), "the same people at the same places and times"
