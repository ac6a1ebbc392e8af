"""Score a tracker's MOTChallenge output against ground truth.

    python scripts/eval_mot.py --gt GT.txt --pred PRED.txt [--frames-file FILE] [--frames 1-400] [--json]

If neither --frames-file nor --frames is given and ``<pred stem>.analysed.txt`` exists beside PRED (the engine writes
``OUT/mot/<camera>.analysed.txt`` beside ``OUT/mot/<camera>.txt``), only the frames listed there are evaluated.
Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

try:
    from vision.evaluate import MotScores, score_mot
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from vision.evaluate import MotScores, score_mot

USAGE_ERROR = 2


def parse_frame_ranges(spec: str) -> set[int]:
    """Parse ``"1-400"``, ``"5"`` or ``"1-10,20-30"`` into a set of 1-based frame numbers."""
    frames: set[int] = set()
    for part in (piece.strip() for piece in spec.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            start, end = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"--frames: bad range {part!r} (expected e.g. 1-400 or 1-10,20-30)") from None
        if start < 1 or end < start:
            raise ValueError(f"--frames: bad range {part!r} (frames are 1-based and ranges ascending)")
        frames.update(range(start, end + 1))
    if not frames:
        raise ValueError("--frames: no frames given")
    return frames


def read_frames_file(path: Path) -> set[int]:
    """Read one 1-based frame number per line (blank lines and ``#`` comments skipped)."""
    frames: set[int] = set()
    with path.open(encoding="utf-8") as handle:
        for line_number, text in enumerate(handle, start=1):
            stripped = text.split("#", 1)[0].strip()
            if not stripped:
                continue
            try:
                frame = int(stripped)
            except ValueError:
                raise ValueError(f"{path}:{line_number}: not a frame number: {stripped!r}") from None
            if frame < 1:
                raise ValueError(f"{path}:{line_number}: frame numbers are 1-based, got {frame}")
            frames.add(frame)
    if not frames:
        raise ValueError(f"{path}: no frame numbers in file")
    return frames


def analysed_frames_file_beside(pred_path: Path) -> Path:
    return pred_path.with_name(f"{pred_path.stem}.analysed.txt")


def resolve_frames(args: argparse.Namespace) -> tuple[set[int] | None, str]:
    """The frames to evaluate and a short description of where they came from."""
    if args.frames_file is not None and args.frames is not None:
        raise ValueError("give --frames-file or --frames, not both")
    if args.frames_file is not None:
        return read_frames_file(args.frames_file), f"frames from {args.frames_file}"
    if args.frames is not None:
        return parse_frame_ranges(args.frames), f"frames {args.frames}"
    beside = analysed_frames_file_beside(args.pred)
    if beside.is_file():
        return read_frames_file(beside), f"frames from {beside} (found beside --pred)"
    return None, "all frames 1..last ground-truth frame"


def format_table(scores: MotScores, frames_note: str) -> str:
    def percent(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"

    rows = [
        ("MOTA", percent(scores.mota)),
        ("IDF1", percent(scores.idf1)),
        ("HOTA", percent(scores.hota)),
        ("DetA", percent(scores.deta)),
        ("AssA", percent(scores.assa)),
        ("MOTP (IoU)", percent(scores.motp)),
        ("FP", str(scores.fp)),
        ("FN", str(scores.fn)),
        ("ID switches", str(scores.id_switches)),
        ("Fragmentations", str(scores.fragmentations)),
        ("Frames", str(scores.num_frames)),
        ("GT boxes / ids", f"{scores.gt_boxes} / {scores.num_gt_ids}"),
        ("Pred boxes / ids", f"{scores.pred_boxes} / {scores.num_pred_ids}"),
        ("Ignored GT / pred", f"{scores.ignored_gt_boxes} / {scores.ignored_pred_boxes}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"Evaluated {frames_note}"]
    lines += [f"  {name:<{width}}  {value:>12}" for name, value in rows]
    return "\n".join(lines)


def json_ready(scores: MotScores) -> dict[str, float | int | None]:
    """Scores as a dict with undefined (NaN) values as None, so the output is strict JSON."""
    return {
        name: None if isinstance(value, float) and math.isnan(value) else value
        for name, value in scores.as_dict().items()
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Score MOTChallenge tracker output (MOTA, IDF1, HOTA, ...).")
    parser.add_argument("--gt", type=Path, required=True, help="ground-truth MOTChallenge file")
    parser.add_argument("--pred", type=Path, required=True, help="tracker output MOTChallenge file")
    parser.add_argument("--frames-file", type=Path, help="file with one analysed 1-based frame number per line")
    parser.add_argument("--frames", help="frame ranges to evaluate, e.g. 1-400 or 1-10,20-30")
    parser.add_argument("--iou-threshold", type=float, default=0.5, help="CLEAR/IDF1 match threshold (IoU >=)")
    parser.add_argument("--json", action="store_true", help="print scores as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        for label, path in (("--gt", args.gt), ("--pred", args.pred)):
            if not path.is_file():
                raise ValueError(f"{label}: no such file: {path}")
        frames, frames_note = resolve_frames(args)
        scores = score_mot(args.gt, args.pred, frames=frames, iou_threshold=args.iou_threshold)
    except (ValueError, OSError) as error:
        print(f"eval_mot: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(f"eval_mot: evaluated {frames_note}", file=sys.stderr)
        print(json.dumps(json_ready(scores), indent=2))
    else:
        print(format_table(scores, frames_note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
