"""Output writers (vision.sinks): the hive-partitioned Parquet track table, atomic JSON and the MOTChallenge export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import floor_tracks
from vision.core.types import FloorTracks, TrackHistory
from vision.sinks.atomic import atomic_output, write_json_atomic
from vision.sinks.mot import MotWriter
from vision.sinks.parquet import TRACKS_SCHEMA, FlushSchedule, PartitionedTableWriter, track_rows

# 2024-05-17 10:00:00.123456 UTC, a time with microseconds.
T0 = datetime(2024, 5, 17, 10, 0, 0, 123456, tzinfo=UTC).timestamp()
MIDNIGHT = datetime(2024, 5, 18, tzinfo=UTC).timestamp()


def hidden_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- the track table: PartitionedTableWriter fed with track_rows ------------------------------------------------


class TrackTableWriter(PartitionedTableWriter):
    """The track table as the pipeline writes it, fed one frame at a time: each row as a one-sample track."""

    def __init__(self, root: Path, camera: str, part_prefix: str, rows_per_file: int = 200_000) -> None:
        super().__init__(root, camera, part_prefix, TRACKS_SCHEMA, "t", rows_per_file=rows_per_file)

    def write(self, floor: FloorTracks) -> None:  # type: ignore[override]
        for row, name in enumerate(floor.track.tolist()):
            sample = TrackHistory(
                camera=floor.camera,
                track=name,
                time_s=np.array([floor.time_s]),
                frame=np.array([floor.frame_index]),
                foot_uv=floor.foot_uv[row : row + 1].astype(np.float64),
                floor_xy=floor.floor_xy[row : row + 1].astype(np.float64),
                confidence=floor.confidence[row : row + 1].astype(np.float32),
            )
            super().write(track_rows(sample, staff=False))


def test_track_table_is_hive_partitioned_and_reads_back(tmp_path: Path) -> None:
    writer = TrackTableWriter(tmp_path, "entrance-1", "run42")
    writer.write(floor_tracks(T0, frame_index=0, names=["aa", "bb"]))
    writer.write(floor_tracks(T0 + 0.2, frame_index=1, names=["aa"]))
    writer.write(floor_tracks(T0 + 0.4, frame_index=2, names=[]))  # nobody in view: no rows
    writer.close()

    assert all_files(tmp_path) == ["camera=entrance-1/date=2024-05-17/part-run42-00000.parquet"]
    assert writer.rows_written == 3
    table = pq.read_table(tmp_path)
    assert table.column_names == ["track", "t", "frame", "u", "v", "x", "y", "conf", "staff", "camera", "date"]
    assert table.schema.field("t").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert [r["track"] for r in rows] == ["aa", "bb", "aa"]
    assert [r["frame"] for r in rows] == [0, 0, 1]
    assert {r["camera"] for r in rows} == {"entrance-1"}
    assert {str(r["date"]) for r in rows} == {"2024-05-17"}
    first = floor_tracks(T0, names=["aa", "bb"])
    assert rows[1]["u"] == pytest.approx(float(first.foot_uv[1, 0]))
    assert rows[1]["v"] == pytest.approx(float(first.foot_uv[1, 1]))
    assert rows[1]["x"] == pytest.approx(float(first.floor_xy[1, 0]))
    assert rows[1]["y"] == pytest.approx(float(first.floor_xy[1, 1]))
    assert rows[1]["conf"] == pytest.approx(float(first.confidence[1]))


def test_track_times_are_the_frame_times_in_utc_microseconds(tmp_path: Path) -> None:
    times = [T0, T0 + 1 / 7, T0 + 3600.000001]
    writer = TrackTableWriter(tmp_path, "cam", "p")
    for index, time_s in enumerate(times):
        writer.write(floor_tracks(time_s, frame_index=index, names=["aa"]))
    writer.close()

    written = pq.read_table(tmp_path).column("t").to_pylist()

    assert written == [datetime.fromtimestamp(round(t * 1e6) / 1e6, tz=UTC) for t in times]
    assert written[0] == datetime(2024, 5, 17, 10, 0, 0, 123456, tzinfo=UTC)
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in written)


def test_nan_floor_positions_become_null(tmp_path: Path) -> None:
    floor_xy = np.array([[np.nan, np.nan], [2.5, -1.0]])
    writer = TrackTableWriter(tmp_path, "cam", "p")
    writer.write(floor_tracks(T0, names=["off-floor", "on-floor"], floor_xy=floor_xy))
    writer.close()

    table = pq.read_table(tmp_path)

    assert table.column("x").to_pylist() == [None, 2.5]
    assert table.column("y").to_pylist() == [None, -1.0]
    assert table.column("x").null_count == 1
    assert table.column("u").null_count == 0


def test_a_batch_spanning_utc_midnight_lands_in_two_dates(tmp_path: Path) -> None:
    writer = TrackTableWriter(tmp_path, "cam", "p")
    for index, offset in enumerate([-0.4, -0.2, 0.0, 0.2]):
        writer.write(floor_tracks(MIDNIGHT + offset, frame_index=index, names=["aa"]))
    writer.close()

    assert all_files(tmp_path) == [
        "camera=cam/date=2024-05-17/part-p-00000.parquet",
        "camera=cam/date=2024-05-18/part-p-00001.parquet",
    ]
    table = pq.read_table(tmp_path)
    by_date = {}
    for row in table.to_pylist():
        by_date.setdefault(str(row["date"]), []).append(row["frame"])
    assert by_date == {"2024-05-17": [0, 1], "2024-05-18": [2, 3]}
    day_two = pq.read_table(tmp_path / "camera=cam" / "date=2024-05-18")
    assert day_two.column("frame").to_pylist() == [2, 3]


def test_rows_per_file_writes_several_parts(tmp_path: Path) -> None:
    writer = TrackTableWriter(tmp_path, "cam", "p", rows_per_file=4)
    for index in range(10):
        writer.write(floor_tracks(T0 + index, frame_index=index, names=["aa", "bb"]))
        if index == 1:
            assert len(writer.files) == 1  # four rows buffered: written without waiting for close()
    writer.close()

    assert len(writer.files) == 5
    assert all(path.is_file() for path in writer.files)
    assert writer.rows_written == 20
    assert [pq.read_metadata(path).num_rows for path in writer.files] == [4] * 5
    table = pq.read_table(tmp_path)
    assert table.num_rows == 20
    assert sorted(table.column("frame").to_pylist()) == sorted(list(range(10)) * 2)


def test_close_leaves_no_hidden_files(tmp_path: Path) -> None:
    writer = TrackTableWriter(tmp_path, "cam", "p", rows_per_file=3)
    for index in range(7):
        writer.write(floor_tracks(MIDNIGHT - 2 + index * 0.5, frame_index=index))
    writer.close()
    writer.close()  # a second close writes nothing more

    assert hidden_files(tmp_path) == []
    assert pq.read_table(tmp_path).num_rows == 14


def test_two_cameras_share_a_root(tmp_path: Path) -> None:
    for camera in ("north", "south"):
        writer = TrackTableWriter(tmp_path, camera, "p")
        writer.write(floor_tracks(T0, names=["aa"], camera=camera))
        writer.close()

    table = pq.read_table(tmp_path)

    assert sorted(str(c) for c in table.column("camera").to_pylist()) == ["north", "south"]


@pytest.mark.parametrize(
    "camera",
    ["", "cam/1", "../up", ".hidden", "-dash-first", "with space", "camera=x", "c" * 65, "caméra", "cam\n"],
)
def test_bad_camera_ids_are_rejected(tmp_path: Path, camera: str) -> None:
    with pytest.raises(ValueError, match="camera id"):
        TrackTableWriter(tmp_path, camera, "p")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("camera", ["c", "Entrance_2", "store-12.cam-3", "x" * 64])
def test_good_camera_ids_are_accepted(tmp_path: Path, camera: str) -> None:
    TrackTableWriter(tmp_path, camera, "p").close()


# --- atomic JSON ---------------------------------------------------------------------------------------------


def test_write_json_atomic(tmp_path: Path) -> None:
    path = tmp_path / "out" / "summary.json"
    document = {"camera": "cam", "when": datetime(2024, 5, 17, tzinfo=UTC), "where": Path("/x"), "n": np.int64(3)}

    write_json_atomic(path, document)

    assert json.loads(path.read_text(encoding="utf-8")) == {
        "camera": "cam",
        "when": "2024-05-17T00:00:00+00:00",
        "where": "/x",
        "n": 3,
    }
    assert path.read_text(encoding="utf-8").endswith("\n")
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_unserialisable_json_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"version": 1})

    with pytest.raises(TypeError, match="cannot write object"):
        write_json_atomic(path, {"version": 2, "bad": object()})

    assert json.loads(path.read_text(encoding="utf-8")) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_exception_mid_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"version": 1})

    with pytest.raises(RuntimeError, match="disk on fire"), atomic_output(path) as handle:
        handle.write('{"version": 2, "half')
        handle.flush()
        raise RuntimeError("disk on fire")

    assert json.loads(path.read_text(encoding="utf-8")) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_exception_mid_write_of_a_new_file_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.bin"

    with pytest.raises(KeyboardInterrupt), atomic_output(path, "wb") as handle:
        handle.write(b"\x00" * 100)
        raise KeyboardInterrupt

    assert list(tmp_path.iterdir()) == []


def test_file_is_hidden_until_the_block_completes(tmp_path: Path) -> None:
    path = tmp_path / "table.txt"

    with atomic_output(path) as handle:
        handle.write("hello\n")
        assert not path.exists()
        (temporary,) = tmp_path.iterdir()
        assert temporary.name.startswith(".")

    assert path.read_text(encoding="utf-8") == "hello\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.txt"]


# --- MotWriter -----------------------------------------------------------------------------------------------


def test_mot_writer_rows_and_analysed_frames(tmp_path: Path) -> None:
    writer = MotWriter(tmp_path, "cam")
    writer.write(floor_tracks(T0, frame_index=0, names=["aa", "bb"]))
    writer.write(floor_tracks(T0 + 0.4, frame_index=2, names=[]))
    writer.write(floor_tracks(T0 + 0.8, frame_index=4, names=["aa"]))
    writer.close()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.analysed.txt", "cam.txt"]
    assert writer.path == tmp_path / "cam.txt"
    # floor_tracks: boxes (10+50i, 20+i, 40+50i, 100+i), ids 1.., confidences linspace(0.5, 0.9)
    assert (tmp_path / "cam.txt").read_text(encoding="utf-8").splitlines() == [
        "1,1,10.00,20.00,30.00,80.00,0.5000,-1,-1,-1",
        "1,2,60.00,21.00,30.00,80.00,0.9000,-1,-1,-1",
        "5,1,10.00,20.00,30.00,80.00,0.5000,-1,-1,-1",
    ]
    assert (tmp_path / "cam.analysed.txt").read_text(encoding="utf-8").splitlines() == ["1", "3", "5"]


def test_mot_rows_parse_as_motchallenge(tmp_path: Path) -> None:
    writer = MotWriter(tmp_path, "cam")
    writer.write(floor_tracks(T0, frame_index=9, names=["a", "b", "c"]))
    writer.close()

    rows = np.loadtxt(tmp_path / "cam.txt", delimiter=",")

    assert rows.shape == (3, 10)
    np.testing.assert_array_equal(rows[:, 0], 10)
    np.testing.assert_array_equal(rows[:, 1], [1, 2, 3])
    np.testing.assert_array_equal(rows[:, 7:], -1)


def test_aborted_mot_writer_leaves_no_files(tmp_path: Path) -> None:
    writer = MotWriter(tmp_path, "cam")
    writer.write(floor_tracks(T0, frame_index=0))

    writer.close(completed=False)

    assert list(tmp_path.iterdir()) == []


# --- Fault handling: strict JSON, the flush schedule, empty datasets ------------------------------------------


def test_json_outputs_are_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json_atomic(path, {"fps": float("nan"), "grid": [1.0, np.float32("inf")], "n": np.int64(3)})
    assert json.loads(path.read_text(encoding="utf-8"), parse_constant=pytest.fail) == {
        "fps": None,
        "grid": [1.0, None],
        "n": 3,
    }


def test_flush_schedule_fires_on_footage_time_or_wall_time() -> None:
    wall = [0.0]
    schedule = FlushSchedule(60.0, clock=lambda: wall[0])
    assert not schedule.due(1000.0)
    assert not schedule.due(1059.0)
    assert schedule.due(1060.0), "60 s of footage"
    schedule.reset(1060.0)
    wall[0] = 59.0
    assert not schedule.due(1061.0)
    wall[0] = 60.0
    assert schedule.due(1061.0), "60 s of wall time, however little footage (a slow machine)"
    with pytest.raises(ValueError, match="positive"):
        FlushSchedule(float("nan"))


def test_a_writer_without_rows_writes_an_empty_part_with_the_schema(tmp_path: Path) -> None:
    writer = PartitionedTableWriter(tmp_path, "cam", "run-0", TRACKS_SCHEMA, "t", empty_date="2024-05-17")
    writer.close()
    assert all_files(tmp_path) == ["camera=cam/date=2024-05-17/part-run-0-00000.parquet"]
    table = pq.read_table(tmp_path)
    assert table.num_rows == 0 and set(TRACKS_SCHEMA.names) <= set(table.schema.names)
