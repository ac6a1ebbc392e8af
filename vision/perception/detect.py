"""Person detection with Ultralytics YOLO, in any format Ultralytics loads (.pt, .onnx, OpenVINO folder, .tflite).

Ultralytics is imported only when a detector is built, after switching off its habit of pip-installing missing
packages at run time: a production engine must fail clearly rather than change its own environment.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vision.core.cpus import available_cpus
from vision.core.errors import ModelError
from vision.core.types import Detections
from vision.perception.export import ExportSettings, runtime_model
from vision.perception.ultralytics_env import prepare_ultralytics_environment

DEFAULT_MODEL = "yolo11n.pt"
DEFAULT_IMGSZ = 640
OFFLINE_HINT = (
    "pass a local weights file with --model PATH (on an offline machine, e.g. ../shared/models/yolov8n_int8.tflite)"
)
_EXPORTED_SUFFIXES = {".onnx", ".tflite", ".engine", ".mlpackage", ".pb", ".torchscript", ".xml"}


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
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise ValueError(f"threads must be between 1 and 1024, got {self.threads}")
        if not self.classes:
            raise ValueError("at least one person class name is needed")
        if not 0.0 < self.conf < 1.0:
            raise ValueError(f"confidence threshold must be between 0 and 1, got {self.conf}")
        if self.imgsz is not None and (self.imgsz < 32 or self.imgsz % 32):
            raise ValueError(f"image size must be a multiple of 32 (at least 32), got {self.imgsz}")
        ExportSettings(self.export, self.imgsz or DEFAULT_IMGSZ, self.int8)  # raises ValueError if inconsistent


def _looks_like_path(model: str) -> bool:
    return os.sep in model or "/" in model or Path(model).exists()


def _set_inference_threads(threads: int) -> None:
    """Ultralytics gives TFLite `cpu_count() - 1` threads (1 on a 2-core machine, the host's count in a container
    with a CPU quota) and leaves torch at its own default; both get `threads`, before the model is built."""
    import torch
    import ultralytics.nn.backends.litert as litert

    litert.NUM_THREADS = threads  # read by LiteRTBackend.load_model when the interpreter is made
    torch.set_num_threads(threads)


def _load_model(model: str) -> Any:
    prepare_ultralytics_environment()
    from ultralytics import YOLO

    path = Path(model)
    if _looks_like_path(model) and not path.exists():
        raise ModelError(f"model file {model} not found; check the path given to --model")
    task = "detect" if path.suffix.lower() in _EXPORTED_SUFFIXES or path.is_dir() else None
    try:
        return YOLO(model, task=task)
    except (ConnectionError, TimeoutError) as exc:
        raise ModelError(f"could not download model {model!r} ({_first_line(exc)}); {OFFLINE_HINT}") from None
    except FileNotFoundError as exc:
        raise ModelError(f"model {model!r} not found ({_first_line(exc)}); {OFFLINE_HINT}") from None
    except (ModuleNotFoundError, ImportError) as exc:
        raise _missing_runtime(model, exc) from None
    except Exception as exc:  # ultralytics raises bare TypeError/ValueError/RuntimeError for unreadable weights
        raise ModelError(
            f"{model} is not a model Ultralytics can load ({_first_line(exc)}); give a YOLO .pt, .onnx, .tflite "
            "file or OpenVINO folder"
        ) from None


_RUNTIME_PACKAGES = {".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".mlpackage": "coremltools"}


def _missing_runtime(model: str, exc: BaseException) -> ModelError:
    package = _RUNTIME_PACKAGES.get(Path(model).suffix.lower()) or getattr(exc, "name", None)
    if Path(model).is_dir():
        package = "openvino"
    install = f"install it with `pip install {package}`" if package else "install its runtime"
    return ModelError(
        f"model {model} needs a runtime that is not installed ({_first_line(exc)}); {install}, or use .pt or "
        ".tflite weights, which work out of the box"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return message.replace("❌", "").replace("ERROR", "").strip(" ️:.")


@contextmanager
def _native_stderr_muted() -> Iterator[None]:
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


def _model_names(model: Any, source: str) -> object:
    """Exported models are parsed on first use, and asking for the class names is that first use."""
    try:
        return model.names
    except (ModuleNotFoundError, ImportError) as exc:
        raise _missing_runtime(source, exc) from None
    except Exception as exc:  # as in _load_model: unreadable weights surface as assorted exception types
        raise ModelError(
            f"{source} is not a model Ultralytics can load ({_first_line(exc)}); give a YOLO .pt, .onnx, .tflite "
            "file or OpenVINO folder"
        ) from None


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


class UltralyticsDetector:
    """Finds the chosen person classes in a BGR picture."""

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings
        self.threads = settings.threads or available_cpus()
        with _native_stderr_muted():
            prepare_ultralytics_environment()
            _set_inference_threads(self.threads)
            export = ExportSettings(
                settings.export, settings.imgsz or DEFAULT_IMGSZ, settings.int8, settings.calibration
            )
            self.model_path = runtime_model(settings.model, export)  # .pt: its cached export (vision.perception.export)
            self._model = _load_model(self.model_path)
            names = _model_names(self._model, settings.model)
        if not isinstance(names, dict) or not names:
            raise ModelError(f"{settings.model} has no class names; it is not a YOLO detection model")
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in names.items()}
        self.class_ids = resolve_class_ids(self.class_names, settings.classes)
        self.imgsz = settings.imgsz or DEFAULT_IMGSZ
        self._warm_up()
        self.imgsz = self._effective_imgsz()

    def _warm_up(self) -> None:
        """One inference on a blank picture, so a model that loads but cannot run fails before anything is
        written. Native runtimes (TFLite, ONNX Runtime) print banners straight to the process's stderr while they
        set up; those are muted."""
        blank = np.zeros((self.imgsz, self.imgsz, 3), dtype=np.uint8)
        with _native_stderr_muted():
            try:
                self(blank)
            except (ModuleNotFoundError, ImportError) as exc:  # exported formats import their runtime on first use
                raise _missing_runtime(self.settings.model, exc) from None

    def _effective_imgsz(self) -> int:
        """The input size Ultralytics really uses: an export with a fixed input size ignores the one asked for,
        so asking for another one explicitly is an error rather than a setting that run.json records but nothing
        applies."""
        predictor = getattr(self._model, "predictor", None)
        used = getattr(predictor, "imgsz", None)
        if not used:
            return self.imgsz
        side = int(max(used))
        if self.settings.imgsz is not None and side != self.settings.imgsz:
            raise ModelError(
                f"{self.settings.model} takes {used[0]}x{used[1]} pictures only (an export with a fixed input size); "
                f"leave out --imgsz, or export the model again at {self.settings.imgsz}"
            )
        return side

    def __call__(self, image: np.ndarray) -> Detections:
        try:
            result = self._model.predict(
                image,
                imgsz=self.imgsz,
                conf=self.settings.conf,
                classes=self.class_ids,
                device=self.settings.device,
                verbose=False,
            )[0]
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.settings.model} failed on a frame ({_first_line(exc)})") from None
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        return Detections(
            xyxy=boxes.xyxy.cpu().numpy().astype(np.float32, copy=False),
            confidence=boxes.conf.cpu().numpy().astype(np.float32, copy=False),
            class_id=boxes.cls.cpu().numpy().astype(np.int64),
        )
