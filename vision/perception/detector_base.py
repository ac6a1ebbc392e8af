"""What every detector shares: the `Detector` protocol, its settings, where a model file is, and the class-name
check. Kept apart from the detectors so that each (footfall's runtimes, Ultralytics' predictor) imports it alone."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vision.core.errors import ModelError
from vision.core.types import Detections

DEFAULT_MODEL = "yolov8n_int8.tflite"  # the model in default_model/, unless a file of that name is given
DEFAULT_IMGSZ = 640
BUILTIN_MODEL = Path(__file__).with_name("default_model") / DEFAULT_MODEL
EXTRA_INSTALL = "pip install 'footfall[ultralytics]' torch==2.14.1 torchvision==0.29.1"
OFFLINE_HINT = (
    "pass a local weights file with --model PATH (on an offline machine, e.g. ../shared/models/yolov8n_int8.tflite)"
)


class Detector(Protocol):
    def __call__(self, image: np.ndarray) -> Detections: ...


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    model: str = DEFAULT_MODEL
    classes: tuple[str, ...] = ("person",)
    imgsz: int | None = None  # None: the model's own input size (640 for .pt weights)
    conf: float = 0.1
    device: str | None = None
    threads: int | None = None  # inference threads; None: every CPU this process may use (vision.core.cpus)
    export: str = "auto"  # .pt weights run as: auto (the fastest here, OpenVINO), openvino, onnx, none (PyTorch)
    int8: bool = False  # INT8 post-training quantisation of the export, calibrated on `calibration`
    calibration: tuple[str, ...] = ()  # videos / image folders of the footage, for int8

    def __post_init__(self) -> None:
        from vision.perception.export import ExportSettings  # settings only: imports nothing of Ultralytics

        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise ValueError(f"threads must be between 1 and 1024, got {self.threads}")
        if not self.classes:
            raise ValueError("at least one person class name is needed")
        if not 0.0 < self.conf < 1.0:
            raise ValueError(f"confidence threshold must be between 0 and 1, got {self.conf}")
        if self.imgsz is not None and (self.imgsz < 32 or self.imgsz % 32):
            raise ValueError(f"image size must be a multiple of 32 (at least 32), got {self.imgsz}")
        ExportSettings(self.export, self.imgsz or DEFAULT_IMGSZ, self.int8)  # raises ValueError if inconsistent


def local_model_path(model: str) -> Path | None:
    """The file or folder `model` names on this machine: the path itself, or the built-in model for its name."""
    path = Path(model).expanduser()
    if path.exists():
        return path
    if model == DEFAULT_MODEL:
        return BUILTIN_MODEL
    return None


def ultralytics_installed() -> bool:
    return importlib.util.find_spec("ultralytics") is not None and importlib.util.find_spec("torch") is not None


def resolve_class_ids(names: dict[int, str], wanted: Sequence[str]) -> list[int]:
    """Class ids for the wanted class names, matched case-insensitively; unknown names are an error."""
    by_name = {name.lower(): class_id for class_id, name in names.items()}
    missing = [name for name in wanted if name.lower() not in by_name]
    if missing:
        available = ", ".join(names[i] for i in sorted(names)[:20])
        raise ModelError(
            f"the model has no class named {', '.join(missing)}; its classes are: {available}"
            f"{' …' if len(names) > 20 else ''}. Choose them with --classes"
        )
    return sorted({by_name[name.lower()] for name in wanted})


@contextmanager
def native_stderr_muted() -> Iterator[None]:
    """Native runtimes (LiteRT's XNNPACK banner, ONNX Runtime) print straight to the process's stderr while they set
    up; that is muted unless debug logging is on."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
