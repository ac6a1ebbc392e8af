"""vision.analytics.fusion: tracks of several cameras joined into site tracks on the floor plan."""

from __future__ import annotations

import numpy as np

from vision.analytics.fusion import FloorPath, estimate_offset, fuse


def walker(camera: str, track: str, start_s: float, end_s: float, origin, velocity, clock_error_s: float = 0.0):
    """A person walking in a straight line, sampled at 5 frames/s, seen by `camera` whose clock reads
    `clock_error_s` behind true time."""
    times = np.arange(start_s, end_s, 0.2)
    xy = np.asarray(origin, float) + np.outer(times, np.asarray(velocity, float))
    return FloorPath(camera, track, times - clock_error_s, xy)


def test_one_person_in_the_overlap_of_two_cameras_is_one_site_track_and_the_clock_offset_is_found() -> None:
    paths = [
        walker("left", "a", 0, 20, (0, 0), (1.2, 0.3)),
        walker("right", "b", 8, 30, (0, 0), (1.2, 0.3), clock_error_s=1.0),  # seen by both from 8 s to 20 s
        walker("left", "c", 0, 20, (0, 4), (1.0, 0.0)),  # someone else, 4 m away
    ]
    sites = fuse(paths)
    assert abs(sites.clock_offset_s["right"] - 1.0) <= 0.1, sites.clock_offset_s
    assert sites.site_track[("left", "a")] == sites.site_track[("right", "b")]
    assert sites.site_track[("left", "c")] != sites.site_track[("left", "a")]
    assert sites.visitors == 2


def test_a_walk_from_one_view_into_the_next_keeps_one_identity() -> None:
    paths = [walker("left", "a", 0, 10, (0, 0), (1.0, 0)), walker("right", "b", 11, 20, (0, 0), (1.0, 0))]
    sites = fuse(paths, clock_offset_s={"left": 0.0, "right": 0.0})
    assert sites.visitors == 1


def test_people_who_cannot_be_one_are_kept_apart() -> None:
    paths = [
        walker("left", "a", 0, 10, (0, 0), (1.0, 0)),
        walker("left", "b", 5, 15, (0, 0.3), (1.0, 0)),  # one camera, two people at once, side by side
        walker("right", "c", 20, 30, (0, 0), (1.0, 0)),  # 10 s after a ended, 20 m on: not a walk
    ]
    sites = fuse(paths, clock_offset_s={"left": 0.0, "right": 0.0})
    assert sites.visitors == 3


def test_no_shared_people_means_no_offset() -> None:
    assert (
        estimate_offset([walker("left", "a", 0, 10, (0, 0), (1, 0))], [walker("right", "b", 0, 10, (50, 50), (1, 0))])
        == 0.0
    )
