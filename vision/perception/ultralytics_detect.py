"""Ultralytics' own predictor, for what footfall's runtimes do not run: PyTorch weights with `--export none`, GPU
devices, and the export of `.pt` weights to OpenVINO/ONNX. Needs the `footfall[ultralytics]` extra.

Ultralytics is imported only when a detector is built, after switching off its habit of pip-installing missing
packages at run time: a production engine must fail clearly rather than change its own environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vision.core.cpus import available_cpus
from vision.core.errors import ModelError, first_line
from vision.core.types import Detections
from vision.perception.detector_base import (
    DEFAULT_IMGSZ,
    OFFLINE_HINT,
    DetectorSettings,
    local_model_path,
    native_stderr_muted,
    resolve_class_ids,
)
from vision.perception.export import ExportSettings, is_torch_weights, runtime_model
from vision.perception.ultralytics_env import prepare_ultralytics_environment

_EXPORTED_SUFFIXES = {".onnx", ".tflite", ".engine", ".mlpackage", ".pb", ".torchscript", ".xml"}


def exported_weights(settings: DetectorSettings) -> Path | None:
    """For .pt weights or an Ultralytics model name, the cached export footfall runs in its own runtime (made now
    if there is none); None when the model is to run in Ultralytics' predictor (`--export none`, other names)."""
    if settings.export == "none" or not is_torch_weights(settings.model):
        return None
    with native_stderr_muted():
        prepare_ultralytics_environment()
        export = ExportSettings(settings.export, settings.imgsz or DEFAULT_IMGSZ, settings.int8, settings.calibration)
        return Path(runtime_model(settings.model, export))


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
        raise ModelError(f"could not download model {model!r} ({first_line(exc)}); {OFFLINE_HINT}") from None
    except FileNotFoundError as exc:
        raise ModelError(f"model {model!r} not found ({first_line(exc)}); {OFFLINE_HINT}") from None
    except (ModuleNotFoundError, ImportError) as exc:
        raise _missing_runtime(model, exc) from None
    except Exception as exc:  # ultralytics raises bare TypeError/ValueError/RuntimeError for unreadable weights
        raise ModelError(
            f"{model} is not a model Ultralytics can load ({first_line(exc)}); give a YOLO .pt, .onnx, .tflite "
            "file or OpenVINO folder"
        ) from None


_RUNTIME_PACKAGES = {".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".mlpackage": "coremltools"}


def _missing_runtime(model: str, exc: BaseException) -> ModelError:
    package = _RUNTIME_PACKAGES.get(Path(model).suffix.lower()) or getattr(exc, "name", None)
    if Path(model).is_dir():
        package = "openvino"
    install = f"install it with `pip install {package}`" if package else "install its runtime"
    return ModelError(
        f"model {model} needs a runtime that is not installed ({first_line(exc)}); {install}, or use .pt or "
        ".tflite weights, which work out of the box"
    )


def _model_names(model: Any, source: str) -> object:
    """Exported models are parsed on first use, and asking for the class names is that first use."""
    try:
        return model.names
    except (ModuleNotFoundError, ImportError) as exc:
        raise _missing_runtime(source, exc) from None
    except Exception as exc:  # as in _load_model: unreadable weights surface as assorted exception types
        raise ModelError(
            f"{source} is not a model Ultralytics can load ({first_line(exc)}); give a YOLO .pt, .onnx, .tflite "
            "file or OpenVINO folder"
        ) from None


class UltralyticsDetector:
    """Finds the chosen person classes in a BGR picture."""

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings
        self.threads = settings.threads or available_cpus()
        with native_stderr_muted():
            prepare_ultralytics_environment()
            _set_inference_threads(self.threads)
            export = ExportSettings(
                settings.export, settings.imgsz or DEFAULT_IMGSZ, settings.int8, settings.calibration
            )
            self.model_path = runtime_model(settings.model, export)  # .pt: its cached export (vision.perception.export)
            local = local_model_path(self.model_path)
            self._model = _load_model(str(local) if local is not None else self.model_path)
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
        with native_stderr_muted():
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
            raise ModelError(f"{self.settings.model} failed on a frame ({first_line(exc)})") from None
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        return Detections(
            xyxy=boxes.xyxy.cpu().numpy().astype(np.float32, copy=False),
            confidence=boxes.conf.cpu().numpy().astype(np.float32, copy=False),
            class_id=boxes.cls.cpu().numpy().astype(np.int64),
        )
