"""Track pseudonyms (vision.perception.anonymise): random per track, per run, forgotten when the track ends."""

from __future__ import annotations

import re

import numpy as np

from vision.perception.anonymise import PSEUDONYM_BYTES, TrackPseudonyms

HEX_NAME = re.compile(rf"^[0-9a-f]{{{2 * PSEUDONYM_BYTES}}}$")


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_names_are_stable_while_a_track_lives() -> None:
    pseudonyms = TrackPseudonyms()

    first = pseudonyms.assign(ids(1, 2, 3))
    later = pseudonyms.assign(ids(3, 1))
    again = pseudonyms.assign(ids(2))

    assert later.tolist() == [first[2], first[0]]
    assert again.tolist() == [first[1]]
    assert len(pseudonyms) == 3


def test_names_are_distinct_fixed_length_hex() -> None:
    pseudonyms = TrackPseudonyms()

    names = pseudonyms.assign(np.arange(1, 501, dtype=np.int64))

    assert names.dtype == object
    assert len(set(names.tolist())) == 500
    assert all(HEX_NAME.match(name) for name in names)


def test_names_are_not_derived_from_the_ids() -> None:
    track_ids = np.arange(1, 51, dtype=np.int64)

    run_a = TrackPseudonyms().assign(track_ids).tolist()
    run_b = TrackPseudonyms().assign(track_ids).tolist()

    assert not set(run_a) & set(run_b)  # two runs never link the same track id
    assert all(str(track_id) != name for track_id, name in zip(track_ids.tolist(), run_a, strict=True))


def test_empty_assignment() -> None:
    pseudonyms = TrackPseudonyms()

    assert pseudonyms.assign(ids()).tolist() == []
    assert len(pseudonyms) == 0


def test_forget_returns_the_ended_names() -> None:
    pseudonyms = TrackPseudonyms()
    names = dict(zip([7, 8, 9], pseudonyms.assign(ids(7, 8, 9)).tolist(), strict=True))

    ended = pseudonyms.forget(ids(9, 7))

    assert ended.tolist() == [names[9], names[7]]
    assert len(pseudonyms) == 1
    assert pseudonyms.assign(ids(8)).tolist() == [names[8]]


def test_a_forgotten_id_that_comes_back_gets_a_new_name() -> None:
    pseudonyms = TrackPseudonyms()
    (before,) = pseudonyms.assign(ids(4)).tolist()
    pseudonyms.forget(ids(4))

    (after,) = pseudonyms.assign(ids(4)).tolist()

    assert after != before


def test_unknown_ids_in_forget_are_ignored() -> None:
    pseudonyms = TrackPseudonyms()
    (name,) = pseudonyms.assign(ids(1)).tolist()

    assert pseudonyms.forget(ids(2, 3, 99)).tolist() == []
    assert pseudonyms.forget(ids()).tolist() == []
    assert pseudonyms.forget(ids(1, 1, 5)).tolist() == [name]
    assert pseudonyms.forget(ids(1)).tolist() == []
    assert len(pseudonyms) == 0


def test_memory_stays_flat_as_tracks_come_and_go() -> None:
    pseudonyms = TrackPseudonyms()
    seen: set[str] = set()
    next_id = 1
    live: list[int] = []
    for frame in range(2000):
        if frame % 3 == 0:  # a new person every third frame
            live.append(next_id)
            next_id += 1
        names = pseudonyms.assign(np.array(live, dtype=np.int64))
        seen.update(names.tolist())
        if len(live) > 5:  # the oldest leaves once six are in view
            ended = pseudonyms.forget(np.array([live.pop(0)], dtype=np.int64))
            assert len(ended) == 1
        assert len(pseudonyms) <= 6

    pseudonyms.forget(np.array(live, dtype=np.int64))

    assert len(pseudonyms) == 0
    assert len(seen) == next_id - 1  # one name per track, each different


def test_a_custom_token_source_is_used() -> None:
    counter = iter(range(100))
    pseudonyms = TrackPseudonyms(new_token=lambda: f"name-{next(counter)}")

    assert pseudonyms.assign(ids(10, 20, 10)).tolist() == ["name-0", "name-1", "name-0"]
