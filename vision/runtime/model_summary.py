"""What `run.json` says of the model: its name or path, the sha256 of a local weights file, the person classes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vision.core.cpus import available_cpus
from vision.perception.detector_base import BUILTIN_MODEL, Detector, DetectorSettings, local_model_path


def model_summary(detector: Detector, settings: DetectorSettings) -> dict:
    summary: dict = {"model": settings.model}
    model_path = local_model_path(settings.model)
    if model_path == BUILTIN_MODEL:
        summary["built_in"] = True
    if model_path is not None and model_path.is_file():
        summary["sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
    runs_as = getattr(detector, "model_path", None)
    if runs_as is not None and Path(runs_as) != model_path:
        summary["runs_as"] = str(runs_as)  # the cached export of .pt weights (vision.perception.export)
        summary["int8"] = settings.int8
    imgsz = getattr(detector, "imgsz", None)
    if imgsz is not None:
        summary["imgsz"] = imgsz
    threads = getattr(detector, "threads", None)
    if threads is not None:
        summary["threads"] = threads
        summary["cpus_available"] = available_cpus()
    class_names = getattr(detector, "class_names", None)
    class_ids = getattr(detector, "class_ids", None)
    if class_names is not None and class_ids is not None:
        summary["person_classes"] = {int(i): class_names[i] for i in class_ids}
    return summary
