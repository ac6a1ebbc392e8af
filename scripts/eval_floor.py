"""Floor-position error of a footfall run against ground-truth world positions, in metres.

    python scripts/eval_floor.py --gt ../shared/data/pets09-s2l1/gt_0001-0400.txt --tracks OUT/tracks [--camera ID]

Engine rows are paired with ground-truth people of the same frame by image foot point (within 25 px), then the
engine's floor x, y is compared with the ground truth's world x, y (2DMOT2015 columns 8-9).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

try:
    from vision.evaluate import floor_errors
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from vision.evaluate import floor_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt", required=True, type=Path)
    parser.add_argument("--tracks", required=True, type=Path, help="OUT/tracks of a run made with --calibration")
    parser.add_argument("--camera", help="camera id, if the run has several")
    args = parser.parse_args()
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(args.tracks)
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {args.tracks}: cannot read the tracks dataset ({exc})")
    if args.camera:
        table = table.filter(pc.equal(table["camera"].cast("string"), args.camera))
    if table.num_rows == 0:
        sys.exit(f"error: {args.tracks}: no rows{' for camera ' + args.camera if args.camera else ''}")
    x = table["x"].to_numpy(zero_copy_only=False)
    y = table["y"].to_numpy(zero_copy_only=False)
    if all(value is None for value in table["x"].to_pylist()[:1000]):
        sys.exit("error: the run has no floor positions; run footfall with --calibration")
    result = floor_errors(
        args.gt,
        frame=table["frame"].to_numpy(),
        foot_uv=table.select(["u", "v"]).to_pandas().to_numpy(dtype=float),
        floor_xy=np.column_stack([x, y]).astype(float),
    )
    print(
        f"floor error over {len(result.errors_m)} matched rows (of {result.engine_rows}): "
        f"median {result.median_m:.3f} m, p90 {result.percentile_m(90):.3f} m, max {result.percentile_m(100):.3f} m"
    )


if __name__ == "__main__":
    main()
