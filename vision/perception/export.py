"""PyTorch weights exported once to a faster CPU runtime, and the export kept in the user's cache.

Measured on this project's 2-core AMD EPYC machines (`scripts/bench_runtimes.py`, 640 input, PETS frames): YOLO11n
takes 60 ms a frame in PyTorch, 19 ms in ONNX Runtime and 13 ms in OpenVINO (YOLOv8s: 135, 62 and 31 ms), so `auto`
exports to OpenVINO. Part of OpenVINO's lead is its CPU default of bf16 arithmetic where the CPU has AVX512-BF16 (these
do); the detector's AP50 on PETS did not change with it (50.7% against PyTorch's 50.6%). Exports take any input size
(dynamic), so frames are letterboxed to their own aspect as PyTorch does, not padded to a square.
An export is keyed by the weights' sha256, the export settings and the versions of the libraries that make it, so a
changed file or upgraded exporter makes a new one and an unchanged one is reused. It is made in a temporary folder
inside the cache and renamed into place: a cache entry is complete or absent, also with two processes exporting the
same model at once (the second rename loses and that process uses the winner's export).

INT8 post-training quantisation (NNCF for OpenVINO, ONNX Runtime's static quantisation for ONNX) is calibrated on
frames sampled evenly from the footage being analysed, so the quantisation ranges fit the scenes the model sees.
Measured as above: OpenVINO INT8 runs YOLO11n in 11 ms and YOLOv8s in 20 ms (against 13 and 31 ms in bf16), and
moved the detector's AP50 on PETS from 50.7% to 49.5%; ONNX Runtime's INT8 was slower than its float here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

import cv2
import numpy as np

from vision.core.errors import ModelError, first_line
from vision.perception.ultralytics_env import prepare_ultralytics_environment

logger = logging.getLogger(__name__)

ExportChoice = Literal["auto", "openvino", "onnx", "none"]
EXPORT_CHOICES: tuple[str, ...] = get_args(ExportChoice)
FASTEST_FORMAT = "openvino"  # measured: scripts/bench_runtimes.py, see the module docstring
CALIBRATION_FRAMES = 64
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_S = 24 * 3600.0
_SEEK_GAP = 300  # frames; a seek decodes from the keyframe before its target, often as far back
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
_RUNTIME_PACKAGE = {"openvino": "openvino", "onnx": "onnx"}
_INT8_PACKAGE = {"openvino": "nncf", "onnx": "onnxruntime"}


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """What to export to. `format` "auto" is the fastest runtime here (OpenVINO), "none" keeps PyTorch."""

    format: str = "auto"
    imgsz: int = 640
    int8: bool = False
    calibration: tuple[str, ...] = ()  # video files, image files or image folders of the footage (INT8 only)
    calibration_frames: int = CALIBRATION_FRAMES

    def __post_init__(self) -> None:
        if self.format not in EXPORT_CHOICES:
            raise ValueError(f"export must be one of {', '.join(EXPORT_CHOICES)}, got {self.format!r}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f"image size must be a multiple of 32 (at least 32), got {self.imgsz}")
        if self.int8 and self.format == "none":
            raise ValueError("INT8 quantisation needs an export; choose --export openvino or onnx, or leave out --int8")
        if self.calibration_frames < 1:
            raise ValueError(f"calibration_frames must be at least 1, got {self.calibration_frames}")

    @property
    def target(self) -> str:
        return FASTEST_FORMAT if self.format == "auto" else self.format


def cache_dir() -> Path:
    """$FOOTFALL_CACHE_DIR, else $XDG_CACHE_HOME/footfall/exports, else ~/.cache/footfall/exports."""
    explicit = os.environ.get("FOOTFALL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "footfall" / "exports"


def is_torch_weights(model: str) -> bool:
    return Path(model).suffix.lower() == ".pt"


def refuse_int8_for_exports(model: str, int8: bool) -> None:
    if int8:
        raise ModelError(
            f"--int8 quantises .pt weights while exporting them, and {model} is not a .pt file; "
            "give .pt weights or leave out --int8"
        )


def runtime_model(model: str, settings: ExportSettings) -> str:
    """The model to load: for .pt weights (a path, or an Ultralytics model name) the cached export for `settings`,
    made now if there is none; any other model, or format "none", as given."""
    if settings.format == "none" or not is_torch_weights(model):
        refuse_int8_for_exports(model, settings.int8 and settings.format != "none")
        return model
    return str(cached_export(resolve_weights(model), settings))


def resolve_weights(model: str) -> Path:
    """A local weights file for `model`: the path itself, or for a bare Ultralytics name (yolo11n.pt) the copy in
    the working folder or Ultralytics' weights folder, downloaded there if there is none (as `YOLO(name)` does)."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if os.sep in model or "/" in model or path.exists():
        raise ModelError(f"model file {model} not found; check the path given to --model") from None
    prepare_ultralytics_environment()
    from ultralytics.utils.downloads import attempt_download_asset

    try:
        return Path(attempt_download_asset(model))
    except (ConnectionError, TimeoutError, FileNotFoundError) as exc:
        raise ModelError(
            f"could not download model {model!r} ({first_line(exc)}); pass a local weights file with --model PATH"
        ) from None


def cached_export(weights: Path, settings: ExportSettings) -> Path:
    """The path of the export of `weights` for `settings` (an OpenVINO folder or an .onnx file), made once."""
    fmt = settings.target
    frames = sample_calibration_frames(settings.calibration, settings.calibration_frames) if settings.int8 else []
    key = export_key(weights, settings, frames)
    root = cache_dir()
    entry = root / f"{_safe_stem(weights)}-{fmt}{'-int8' if settings.int8 else ''}-{settings.imgsz}-{key[:16]}"
    found = _entry_model(entry)
    if found is not None:
        logger.info("using the cached %s export of %s: %s", fmt, weights, found)
        return found
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_folders(root)
        temp = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-", dir=root))
    except OSError as exc:
        raise ModelError(
            f"cannot write the model export cache {root} ({exc.strerror or exc}); set FOOTFALL_CACHE_DIR to a "
            "writable folder, or use --export none to run the .pt weights with PyTorch"
        ) from None
    try:
        started = time.perf_counter()
        logger.info(
            "exporting %s to %s (imgsz %d%s), once: later runs reuse %s",
            weights,
            fmt,
            settings.imgsz,
            f", INT8 calibrated on {len(frames)} frames" if settings.int8 else "",
            entry,
        )
        made = _export(weights, settings, frames, temp / "work")
        staged = temp / "entry"
        staged.mkdir()
        shutil.move(str(made), staged / made.name)
        record = {"source": str(weights.resolve()), "key": key, **_key_fields(weights, settings, frames)}
        (staged / "export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        try:
            staged.rename(entry)
        except OSError:
            if _entry_model(entry) is None:  # not another process's finished export: a real failure
                raise
            logger.info("another process exported %s at the same time; using its export", weights)
        else:
            logger.info("exported %s to %s in %.1f s", weights, entry, time.perf_counter() - started)
    except OSError as exc:
        raise ModelError(
            f"could not write the export of {weights} into {root} ({exc.strerror or exc}); set FOOTFALL_CACHE_DIR "
            "to a writable folder with free space, or use --export none"
        ) from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    found = _entry_model(entry)
    if found is None:
        raise ModelError(f"the export cache entry {entry} is incomplete; delete it and run again")
    return found


def export_key(weights: Path, settings: ExportSettings, frames: Sequence[np.ndarray]) -> str:
    fields = _key_fields(weights, settings, frames)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _key_fields(weights: Path, settings: ExportSettings, frames: Sequence[np.ndarray]) -> dict[str, Any]:
    fmt = settings.target
    packages = ["ultralytics", "torch", _RUNTIME_PACKAGE[fmt]] + ([_INT8_PACKAGE[fmt]] if settings.int8 else [])
    fields: dict[str, Any] = {
        "weights_sha256": _file_sha256(weights),
        "format": fmt,
        "imgsz": settings.imgsz,
        "int8": settings.int8,
        "dynamic": True,
        "versions": {name: _version(name) for name in packages},
    }
    if settings.int8:
        fields["calibration_sha256"] = frames_sha256(frames)
    return fields


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(
            f"cannot read model file {path} ({exc.strerror or exc}); check the path given to --model"
        ) from None
    return digest.hexdigest()


def frames_sha256(frames: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(repr(frame.shape).encode())
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "missing"


def _safe_stem(weights: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in weights.stem)
    return stem[:60] or "model"


def _entry_model(entry: Path) -> Path | None:
    """The model inside a finished cache entry (renamed into place whole, so present means complete)."""
    if not (entry / "export.json").is_file():
        return None
    for child in sorted(entry.iterdir()):
        if child.suffix == ".onnx" or (child.is_dir() and child.name.endswith("_openvino_model")):
            return child
    return None


def _remove_stale_temp_folders(root: Path) -> None:
    """Temporary folders of exports that died (their process is gone, or a day old) are removed; those of exports
    running now in other processes are left alone."""
    now = time.time()
    for folder in root.glob(f"{_TEMP_PREFIX}*"):
        pid_text = folder.name[len(_TEMP_PREFIX) :].split("-", 1)[0]
        try:
            age = now - folder.stat().st_mtime
        except OSError:
            continue
        if not pid_text.isdigit() or not _process_alive(int(pid_text)) or age > _STALE_TEMP_S:
            logger.info("removing %s, left by an export that did not finish", folder)
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _export(weights: Path, settings: ExportSettings, frames: Sequence[np.ndarray], work: Path) -> Path:
    """Export a copy of the weights inside `work`, where Ultralytics writes its output beside the weights."""
    work.mkdir(parents=True)
    copy = work / f"{_safe_stem(weights)}.pt"
    shutil.copyfile(weights, copy)
    model = _load_torch_model(copy, weights)
    # dynamic: the input takes any size, so frames are letterboxed to their own aspect (640x480 for 4:3) as PyTorch
    # does: the same pictures as the .pt weights see, and fewer pixels than a fixed 640x640 square
    options: dict[str, Any] = {"format": settings.target, "imgsz": settings.imgsz, "device": "cpu", "batch": 1}
    options["dynamic"] = True
    if settings.int8:
        options["quantize"] = 8
        options["data"] = str(_write_calibration_dataset(frames, model.names, work / "calibration"))
        _quiet_nncf()
    try:
        made = model.export(**options)
    except (ModuleNotFoundError, ImportError) as exc:
        package = getattr(exc, "name", None) or _RUNTIME_PACKAGE[settings.target]
        raise ModelError(
            f"exporting {weights} to {settings.target} needs {package}, which is not installed; install it with "
            f"`pip install {package}`, or use --export none to run the .pt weights with PyTorch"
        ) from None
    except Exception as exc:  # Ultralytics' exporters raise assorted types (AssertionError, RuntimeError, …)
        raise ModelError(
            f"could not export {weights} to {settings.target} ({first_line(exc)}); use --export none to run the "
            ".pt weights with PyTorch"
        ) from None
    path = Path(made) if made else None
    if path is None or not path.exists():
        raise ModelError(
            f"exporting {weights} to {settings.target} produced nothing; use --export none to run it with PyTorch"
        )
    return path


def _load_torch_model(copy: Path, weights: Path) -> Any:
    prepare_ultralytics_environment()
    from ultralytics import YOLO

    try:
        model = YOLO(str(copy))
    except Exception as exc:  # ultralytics raises bare TypeError/ValueError/RuntimeError for unreadable weights
        raise ModelError(
            f"{weights} is not a model Ultralytics can load ({first_line(exc)}); give a YOLO .pt, .onnx, .tflite "
            "file or OpenVINO folder"
        ) from None
    if getattr(model, "task", None) != "detect":
        raise ModelError(f"{weights} is a YOLO {model.task} model, not a detection model; give detection weights")
    return model


def _quiet_nncf() -> None:
    """NNCF logs every layer it leaves unquantised at INFO through its own handler."""
    try:
        import nncf
    except ImportError:
        return  # the export reports the missing package
    nncf.set_log_level(logging.WARNING)


def sample_calibration_frames(sources: Sequence[str], count: int = CALIBRATION_FRAMES) -> list[np.ndarray]:
    """Up to `count` BGR frames spread evenly over the given video files, image files and image folders."""
    if not sources:
        raise ModelError(
            "INT8 quantisation is calibrated on frames of the footage, and none was given; pass the videos or "
            "image folders to analyse, or leave out --int8"
        )
    per_source = max(1, -(-count // len(sources)))
    frames: list[np.ndarray] = []
    for source in sources:
        frames.extend(_frames_of(Path(source), per_source))
    if not frames:
        raise ModelError(
            f"no calibration frames could be read from {', '.join(sources)}; give readable videos or image "
            "folders, or leave out --int8"
        )
    return frames[:count]


def _frames_of(path: Path, count: int) -> list[np.ndarray]:
    if path.is_dir() and (path / "img1").is_dir():  # a MOTChallenge sequence keeps its pictures in img1/
        path = path / "img1"
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        return _read_images(_evenly(images, count))
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        return _read_images([path])
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return []
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        frames: list[np.ndarray] = []
        if total <= 0:  # length unknown: the first frames
            while len(frames) < count:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(frame)
            return frames
        position = 0  # the index of the frame the next read returns
        for index in _evenly(list(range(total)), count):
            if index - position > _SEEK_GAP:  # far ahead: seeking beats decoding every frame in between
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            while position < index and capture.grab():
                position += 1
            ok, frame = capture.read()
            position += 1
            if ok:
                frames.append(frame)
        return frames
    finally:
        capture.release()


def _evenly(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    return [items[int(i * len(items) / count)] for i in range(count)]


def _read_images(paths: Sequence[Path]) -> list[np.ndarray]:
    frames = []
    for path in paths:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is not None:
            frames.append(frame)
    return frames


def _write_calibration_dataset(frames: Sequence[np.ndarray], names: dict[int, str], folder: Path) -> Path:
    """The frames as an unlabelled dataset in the YOLO layout Ultralytics' INT8 export reads (images only)."""
    images = folder / "images"
    images.mkdir(parents=True)
    for index, frame in enumerate(frames):
        if not cv2.imwrite(str(images / f"{index:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"could not write calibration frame {index} into {images}")
    data = folder / "data.yaml"
    lines = [f"path: {json.dumps(str(folder))}", "train: images", "val: images", "names:"]
    lines += [f"  {int(k)}: {json.dumps(str(v))}" for k, v in sorted(names.items())]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data
