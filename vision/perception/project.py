"""Where tracked people stand: the foot point (bottom-centre of the box) in pixels, and on the floor in metres."""

from __future__ import annotations

import numpy as np

from vision.core.geometry import GroundProjector
from vision.core.types import Tracks


def foot_and_floor(projector: GroundProjector | None, tracks: Tracks) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) foot points in pixels and (N, 2) floor points in metres (NaN without a projector or off the floor)."""
    foot = tracks.foot_points().astype(np.float64)
    if projector is None or len(tracks) == 0:
        return foot, np.full((len(tracks), 2), np.nan)
    return foot, projector.to_floor(foot)
