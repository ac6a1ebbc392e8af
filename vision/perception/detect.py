"""Person detection: the `Detector` protocol, its settings, and the choice of who runs the model.

Exported models (`.tflite`, `.onnx`, an OpenVINO folder) run in their own runtimes with footfall's letterbox and
decoding (`vision.perception.yolo`, `vision.perception.runtimes`): no PyTorch, no Ultralytics. That includes the
default, a small COCO detector that ships inside the package (`default_model/`), so a fresh install works offline.

PyTorch weights (`.pt`) and Ultralytics model names need the `footfall[ultralytics]` extra: Ultralytics downloads
and exports them once (`vision.perception.export`), and the export then runs here like any other. `--export none`
and a GPU `--device` keep Ultralytics' own predictor (`vision.perception.ultralytics_detect`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vision.core.cpus import available_cpus
from vision.core.errors import ModelError, first_line
from vision.core.types import Detections
from vision.perception import yolo
from vision.perception.detector_base import (
    BUILTIN_MODEL,
    DEFAULT_IMGSZ,
    DEFAULT_MODEL,
    EXTRA_INSTALL,
    Detector,
    DetectorSettings,
    local_model_path,
    native_stderr_muted,
    resolve_class_ids,
    ultralytics_installed,
)
from vision.perception.runtimes import is_exported_model, model_file, open_runtime, read_metadata

__all__ = ["BUILTIN_MODEL", "DEFAULT_MODEL", "Detector", "DetectorSettings", "YoloDetector", "build_detector"]


class YoloDetector:
    """Finds the chosen person classes in a BGR picture with an exported YOLO model, in the model format's own
    runtime."""

    def __init__(self, settings: DetectorSettings, model_path: Path | None = None) -> None:
        self.settings = settings
        self.threads = settings.threads or available_cpus()
        path = model_path or local_model_path(settings.model)
        if path is None:
            raise ModelError(f"model file {settings.model} not found; check the path given to --model")
        self.model_path = path
        with native_stderr_muted():
            self._runtime = open_runtime(model_file(path), self.threads)
        metadata = read_metadata(path, self._runtime)
        if metadata.task not in (None, "detect"):
            raise ModelError(f"{settings.model} is a {metadata.task} model; footfall needs a detection model")
        self.class_names = metadata.names
        self.class_ids = resolve_class_ids(self.class_names, settings.classes)
        self._stride = metadata.stride
        fixed = self._runtime.fixed_input_hw
        if fixed is not None:
            if settings.imgsz is not None and settings.imgsz != max(fixed):
                raise ModelError(
                    f"{settings.model} takes {fixed[0]}x{fixed[1]} pictures only (an export with a fixed input "
                    f"size); leave out --imgsz, or export the model again at {settings.imgsz}"
                )
            self.imgsz = max(fixed)
        else:
            self.imgsz = settings.imgsz or metadata.imgsz or DEFAULT_IMGSZ
        self._warm_up()

    def _warm_up(self) -> None:
        """One inference on a blank picture, so a model that loads but cannot run fails before anything is written."""
        with native_stderr_muted():
            try:
                self(np.zeros((self.imgsz, self.imgsz, 3), dtype=np.uint8))
            except ModelError:
                raise
            except Exception as exc:  # runtimes raise their own exception classes for graphs that cannot run
                raise ModelError(f"{self.settings.model} cannot run ({first_line(exc)})") from None

    def __call__(self, image: np.ndarray) -> Detections:
        frame_hw = (int(image.shape[0]), int(image.shape[1]))
        fixed = self._runtime.fixed_input_hw
        input_hw = fixed or yolo.letterbox_shape(frame_hw, self.imgsz, self._stride, fixed=False)
        letterboxed, placement = yolo.letterbox(image, input_hw)
        batch = yolo.model_input(letterboxed, self._runtime.channels_last)
        try:
            output = self._runtime(batch)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.settings.model} failed on a frame ({first_line(exc)})") from None
        if self._runtime.normalised_boxes and output.ndim == 3 and output.shape[-1] != 6:
            output[:, [0, 2]] *= input_hw[1]
            output[:, [1, 3]] *= input_hw[0]
        return yolo.decode(output, placement, frame_hw, self.class_ids, self.settings.conf, len(self.class_names))


ULTRALYTICS_ONLY_SUFFIXES = {".pt", ".engine", ".mlpackage", ".torchscript", ".pb", ".pte", ".mnn"}


def _needs_extra(model: str, why: str) -> ModelError:
    return ModelError(
        f"{model} {why}, which needs the Ultralytics extra: install it with `{EXTRA_INSTALL}`, or export the model "
        "once on a machine that has it (`yolo export model=… format=openvino`) and pass the export with --model"
    )


def build_detector(settings: DetectorSettings) -> Detector:
    """The detector for `settings`: an exported model in its own runtime, .pt weights through their cached export,
    or, with the Ultralytics extra, Ultralytics' predictor for `--export none`, GPU devices and the formats only it
    loads (TensorRT, CoreML, TorchScript, …)."""
    path = local_model_path(settings.model)
    on_gpu = settings.device not in (None, "cpu")
    if path is not None and is_exported_model(path) and not on_gpu:
        from vision.perception.export import refuse_int8_for_exports

        refuse_int8_for_exports(settings.model, settings.int8)
        return YoloDetector(settings, path)
    if path is None and (os.sep in settings.model or "/" in settings.model):
        raise ModelError(f"model file {settings.model} not found; check the path given to --model")
    if not ultralytics_installed():
        if path is not None and path.suffix.lower() not in ULTRALYTICS_ONLY_SUFFIXES:
            raise ModelError(
                f"{settings.model} is not a model footfall can run; give a YOLO .tflite, .onnx or OpenVINO folder "
                "(or .pt weights with the Ultralytics extra)"
            )
        if on_gpu:
            raise _needs_extra(settings.model, f"asks for device {settings.device}")
        what = "is PyTorch weights" if path is not None and path.suffix.lower() == ".pt" else "is a model name"
        if path is not None and path.suffix.lower() != ".pt":
            what = f"is a {path.suffix} model"
        raise _needs_extra(settings.model, what)
    from vision.perception.ultralytics_detect import UltralyticsDetector, exported_weights

    exported = exported_weights(settings)
    if exported is not None and not on_gpu:
        return YoloDetector(settings, exported)
    return UltralyticsDetector(settings)
