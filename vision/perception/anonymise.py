"""Track pseudonyms: what leaves the engine instead of tracker ids.

Each track gets a fresh random token, so the same person seen in two runs, on two cameras or on two days gets
unrelated names and nothing in the output counts people across runs. A token lives only as long as its track:
it is forgotten when the tracker ends the track, which keeps memory flat on a feed that runs for months.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np

PSEUDONYM_BYTES = 8


def random_token() -> str:
    return secrets.token_hex(PSEUDONYM_BYTES)


class TrackPseudonyms:
    def __init__(self, new_token: Callable[[], str] = random_token) -> None:
        self._new_token = new_token
        self._by_track_id: dict[int, str] = {}
        self.minted = 0

    def __len__(self) -> int:
        return len(self._by_track_id)

    def assign(self, track_ids: np.ndarray) -> np.ndarray:
        """The pseudonym of each track id, minting one for ids seen for the first time."""
        names = []
        for track_id in track_ids.tolist():
            name = self._by_track_id.get(track_id)
            if name is None:
                name = self._by_track_id[track_id] = self._new_token()
                self.minted += 1
            names.append(name)
        return np.array(names, dtype=object)

    def forget(self, ended_track_ids: np.ndarray) -> np.ndarray:
        """Drops ended tracks and returns their pseudonyms (tracks never assigned are ignored)."""
        ended = [
            self._by_track_id.pop(track_id) for track_id in ended_track_ids.tolist() if track_id in self._by_track_id
        ]
        return np.array(ended, dtype=object)
