"""Exported detection models run by their own runtimes, with no PyTorch: `.tflite` by LiteRT (`ai-edge-litert`),
`.onnx` by ONNX Runtime, an OpenVINO IR folder (or its `.xml`) by OpenVINO.

Each runtime is imported only when a model of its format is opened, and a missing one is a `ModelError` naming the
package to install. The model's own metadata (class names, input size, stride, whether the input size is fixed),
as Ultralytics' exporter writes it, is read from where each format keeps it.
"""

from __future__ import annotations

import ast
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from vision.core.errors import ModelError, first_line

EXPORTED_SUFFIXES = (".tflite", ".onnx", ".xml")
_RUNTIME_PACKAGE = {".tflite": "ai-edge-litert", ".onnx": "onnxruntime", ".xml": "openvino"}


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What an export says of itself. `names` maps class id to name; `imgsz` is the size it was exported at."""

    names: dict[int, str]
    imgsz: int | None
    stride: int
    task: str | None


class ModelRuntime(Protocol):
    """One loaded model: a fixed or free input size, and a forward pass on one NHWC or NCHW float32 batch."""

    fixed_input_hw: tuple[int, int] | None  # None: any height and width (a dynamic export)
    channels_last: bool
    normalised_boxes: bool  # box coordinates come out in 0..1 of the input, not pixels (LiteRT exports)

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...

    def raw_metadata(self) -> dict | None:
        """The export's metadata as Ultralytics wrote it, or None."""
        ...


def model_file(path: Path) -> Path:
    """The file that holds the model: an OpenVINO folder's `.xml`, else the path itself."""
    if path.is_dir():
        found = sorted(path.glob("*.xml"))
        if not found:
            raise ModelError(f"{path} is a folder without an OpenVINO model (.xml); give a model file or IR folder")
        return found[0]
    return path


def is_exported_model(path: Path) -> bool:
    return path.suffix.lower() in EXPORTED_SUFFIXES or (path.is_dir() and any(path.glob("*.xml")))


def read_metadata(path: Path, runtime: ModelRuntime) -> ModelMetadata:
    """Ultralytics' metadata of an export: a zip entry appended to a .tflite, `metadata_props` of an .onnx, the
    `metadata.yaml` beside an OpenVINO .xml. An export without it is refused, since its classes are unknown."""
    try:
        raw = runtime.raw_metadata()
    except (OSError, zipfile.BadZipFile, ValueError, SyntaxError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelError(f"{path} has unreadable model metadata ({exc}); export it again with Ultralytics") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("names"), dict) or not raw["names"]:
        raise ModelError(
            f"{path} carries no class names (no Ultralytics metadata); export it with Ultralytics "
            "(`yolo export model=… format=tflite|onnx|openvino`)"
        )
    imgsz = raw.get("imgsz")
    size = int(max(imgsz)) if isinstance(imgsz, list | tuple) and imgsz else (int(imgsz) if imgsz else None)
    return ModelMetadata(
        names={int(k): str(v) for k, v in raw["names"].items()},
        imgsz=size,
        stride=int(raw.get("stride") or 32),
        task=raw.get("task"),
    )


def _literal(value: Any) -> Any:
    return ast.literal_eval(value) if isinstance(value, str) else value


def _import_runtime(path: Path, module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = _RUNTIME_PACKAGE[path.suffix.lower()]
        raise ModelError(
            f"model {path} needs {package}, which is not installed ({exc}); install it with `pip install {package}`"
        ) from None


def _static_hw(shape: Any, channels_last: bool) -> tuple[int, int] | None:
    dims = list(shape)
    hw = dims[1:3] if channels_last else dims[2:4]
    if all(isinstance(d, int | np.integer) and d > 0 for d in hw):
        return int(hw[0]), int(hw[1])
    return None


class LiteRTRuntime:
    """A `.tflite` model in LiteRT's interpreter. Ultralytics' TFLite exports take NHWC float input and give boxes
    normalised to the input size; full-integer exports are (de)quantised at the boundary."""

    normalised_boxes = True

    def __init__(self, path: Path, threads: int) -> None:
        interpreter_module = _import_runtime(path, "ai_edge_litert.interpreter")
        try:
            self._interpreter = interpreter_module.Interpreter(str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path} is not a TFLite model LiteRT can load ({exc})") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        shape = self._input["shape"]
        self.channels_last = int(shape[-1]) == 3
        self.fixed_input_hw = _static_hw(shape, self.channels_last)
        self._path = path

    def raw_metadata(self) -> dict | None:
        if not zipfile.is_zipfile(self._path):
            return None
        with zipfile.ZipFile(self._path) as archive:
            names = archive.namelist()
            if "metadata.json" in names:
                return json.loads(archive.read("metadata.json"))
            return _literal(archive.read(names[0]).decode("utf-8")) if names else None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        details = self._input
        if details["dtype"] in (np.int8, np.int16):
            scale, zero_point = details["quantization"]
            limits = np.iinfo(details["dtype"])
            batch = np.clip(batch / scale + zero_point, limits.min, limits.max).astype(details["dtype"])
        self._interpreter.set_tensor(details["index"], batch)
        self._interpreter.invoke()
        output = self._interpreter.get_tensor(self._output["index"])
        if self._output["dtype"] in (np.int8, np.int16):
            scale, zero_point = self._output["quantization"]
            return (output.astype(np.float32) - zero_point) * scale
        return output  # get_tensor returns a copy, the caller's to change


class OnnxRuntime:
    """An `.onnx` model in ONNX Runtime on the CPU."""

    channels_last = False
    normalised_boxes = False

    def __init__(self, path: Path, threads: int) -> None:
        onnxruntime = _import_runtime(path, "onnxruntime")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception classes for unreadable models
            raise ModelError(f"{path} is not an ONNX model ONNX Runtime can load ({first_line(exc)})") from None
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self.fixed_input_hw = _static_hw(model_input.shape, channels_last=False)

    def raw_metadata(self) -> dict | None:
        props = self._session.get_modelmeta().custom_metadata_map
        return {key: _literal(value) if key in ("names", "imgsz", "stride") else value for key, value in props.items()}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: batch})[0]


class OpenVinoRuntime:
    """An OpenVINO IR model on the CPU, compiled for latency. OpenVINO's CPU plugin crashes running INT8 models with
    dynamic shapes on AMX CPUs (openvino#37577, as Ultralytics notes), so there the model is compiled per input
    shape instead; one camera's frames keep one shape."""

    channels_last = False
    normalised_boxes = False

    def __init__(self, path: Path, threads: int) -> None:
        openvino = _import_runtime(path, "openvino")
        self._core = openvino.Core()
        self._path = path
        self._config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        try:
            model = self._core.read_model(model=str(path), weights=str(path.with_suffix(".bin")))
        except RuntimeError as exc:
            raise ModelError(f"{path} is not an OpenVINO model OpenVINO can load ({first_line(exc)})") from None
        shape = model.input().get_partial_shape()
        self.fixed_input_hw = (
            None if shape.is_dynamic else _static_hw([d.get_length() for d in shape], channels_last=False)
        )
        self._per_shape = shape.is_dynamic and _int8_on_amx(model)
        self._compiled: dict[tuple[int, ...], Any] = {}
        if not self._per_shape:
            self._compiled[()] = self._core.compile_model(model, "CPU", self._config)

    def raw_metadata(self) -> dict | None:
        sidecar = self._path.parent / "metadata.yaml"
        return yaml.safe_load(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else None

    def _model_for(self, shape: tuple[int, ...]) -> Any:
        key = shape if self._per_shape else ()
        if key not in self._compiled:
            model = self._core.read_model(model=str(self._path), weights=str(self._path.with_suffix(".bin")))
            model.reshape(list(shape))
            self._compiled = {key: self._core.compile_model(model, "CPU", self._config)}
        return self._compiled[key]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        compiled = self._model_for(batch.shape)
        return np.asarray(compiled(batch)[compiled.output(0)])


def _int8_on_amx(model: Any) -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    has_amx = cpuinfo.exists() and "amx_int8" in cpuinfo.read_text(encoding="utf-8", errors="replace")
    return has_amx and any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


def open_runtime(path: Path, threads: int) -> ModelRuntime:
    """The runtime for an exported model file (an OpenVINO folder is given as its `.xml`)."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return LiteRTRuntime(path, threads)
    if suffix == ".onnx":
        return OnnxRuntime(path, threads)
    if suffix == ".xml":
        return OpenVinoRuntime(path, threads)
    raise ModelError(f"{path} is not an exported model footfall runs itself (.tflite, .onnx or OpenVINO folder)")
