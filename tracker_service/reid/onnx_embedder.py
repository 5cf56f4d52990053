"""ONNX Runtime re-ID backend, batching any number of crops per call.

Many re-ID ONNX files were exported with a fixed batch of 1 (the shared OSNet one is
`images` 1x3x256x128 -> 1x512). Running one crop at a time wastes most of the runtime's
per-call overhead, so at load time the graph's batch dimension is made symbolic in memory
(nothing is written to disk). That alone is not always enough: PyTorch's exporter often
bakes the batch into `Reshape` targets (the shared model flattens with `[1, -1]`), so such
targets are rewritten to `0` ("copy the input's dimension") where shape inference shows the
reshaped tensor's first dimension is the batch. The result is accepted only if a probe batch
gives the same embeddings as per-sample runs of the original model; otherwise the backend
runs the original model in chunks of its fixed batch size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import numpy_helper, shape_inference

from tracker_service.model_store import ModelError
from tracker_service.reid.base import parse_device, resolve_thread_count
from tracker_service.reid.preprocess import l2_normalise, preprocess_batch

logger = logging.getLogger(__name__)

BatchingMode = Literal["dynamic", "made-dynamic", "fixed"]
FloatBatch = NDArray[np.floating[Any]]

_BATCH_PARAM = "batch"
# Batched and per-sample runs differ only by float reordering (about 1e-6 on CPU, more with
# TF32 on GPUs); a graph that mixes samples up differs by far more than this.
_PROBE_ATOL = 1e-3
_INPUT_DTYPES: dict[int, type[np.floating[Any]]] = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
}


def _load_model(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise ModelError(f"ONNX re-ID model not found: {path}")
    if not path.is_file():
        raise ModelError(f"ONNX re-ID model {path} is not a file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf and onnx raise various types; all mean "not ONNX"
        raise ModelError(f"{path} is not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node or not model.graph.output or not _image_inputs(model):
        raise ModelError(f"{path} is not an ONNX model (it has no graph with inputs and outputs)")
    return model


def _image_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    # Old exports (IR < 4) also list every initializer as a graph input.
    weights = {initializer.name for initializer in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in weights]


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    """Static dimensions of a tensor's declared shape; None where a dimension is symbolic."""
    return [
        dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None
        for dim in value.type.tensor_type.shape.dim
    ]


class _InputSpec:
    """What the model's single image input accepts, read and checked from the graph."""

    def __init__(self, model: onnx.ModelProto, path: Path) -> None:
        inputs = _image_inputs(model)
        if len(inputs) != 1:
            names = ", ".join(value.name for value in inputs)
            raise ModelError(f"{path}: expected one image input, found {len(inputs)} ({names})")
        value = inputs[0]
        dims = _dims(value)
        shape = "x".join("?" if dim is None else str(dim) for dim in dims)
        if len(dims) != 4 or dims[1] != 3:
            raise ModelError(
                f"{path}: input {value.name!r} has shape [{shape}], expected (N, 3, H, W)"
            )
        height, width = dims[2], dims[3]
        if height is None or width is None:
            raise ModelError(
                f"{path}: input {value.name!r} has shape [{shape}]; its height and width must "
                "be fixed so that crops can be resized to them"
            )
        elem_type = value.type.tensor_type.elem_type
        if elem_type not in _INPUT_DTYPES:
            raise ModelError(
                f"{path}: input {value.name!r} has element type "
                f"{onnx.TensorProto.DataType.Name(elem_type)}, expected FLOAT or FLOAT16"
            )
        self.name: str = value.name
        self.fixed_batch: int | None = dims[0]
        self.size: tuple[int, int] = (width, height)
        self.dtype: type[np.floating[Any]] = _INPUT_DTYPES[elem_type]


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    # Stale value_info recorded for the fixed batch would override the new symbolic one.
    del model.graph.value_info[:]
    return shape_inference.infer_shapes(model)


def _mark_batch_symbolic(model: onnx.ModelProto, fixed: int) -> None:
    for value in (*_image_inputs(model), *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == fixed:
            dims[0].dim_param = _BATCH_PARAM  # a oneof with dim_value: this clears it


def _free_batch_reshapes(model: onnx.ModelProto, fixed: int) -> int:
    """Rewrite Reshape targets `[fixed, ...]` to `[0, ...]` where dim 0 is the batch.

    Only constant targets held as initializers are rewritten (what PyTorch's exporter
    produces with constant folding on); returns how many were.
    """
    graph = model.graph
    shapes = {
        value.name: value.type.tensor_type.shape
        for value in (*graph.value_info, *graph.input, *graph.output)
    }
    constants = {initializer.name: initializer for initializer in graph.initializer}
    rewritten = 0
    for index, node in enumerate(graph.node):
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in constants:
            continue
        # With allowzero=1 a 0 in the target means a literal 0, not "copy the input's".
        if any(attr.name == "allowzero" and attr.i for attr in node.attribute):
            continue
        data_shape = shapes.get(node.input[0])
        if data_shape is None or not data_shape.dim or data_shape.dim[0].dim_param != _BATCH_PARAM:
            continue
        target = numpy_helper.to_array(constants[node.input[1]])
        if target.ndim != 1 or target.size == 0 or target[0] != fixed:
            continue
        freed = target.copy()
        freed[0] = 0
        # A new initializer per node: the original may be shared with other nodes.
        name = f"{node.input[1]}__batch_free_{index}"
        graph.initializer.append(numpy_helper.from_array(freed, name))
        node.input[1] = name
        rewritten += 1
    return rewritten


def make_batch_dynamic(model: onnx.ModelProto, fixed: int) -> onnx.ModelProto:
    """A copy of `model` whose batch dimension is symbolic instead of `fixed`.

    The copy is not verified here: the caller checks it against the original on real runs.
    """
    dynamic = onnx.ModelProto()
    dynamic.CopyFrom(model)
    _mark_batch_symbolic(dynamic, fixed)
    dynamic = _infer_shapes(dynamic)
    if _free_batch_reshapes(dynamic, fixed):
        # Inference had propagated the baked-in batch to the outputs; redo it.
        _mark_batch_symbolic(dynamic, fixed)
        dynamic = _infer_shapes(dynamic)
    return dynamic


def run_in_fixed_batches(
    run: Callable[[FloatBatch], FloatBatch], batch: FloatBatch, size: int
) -> FloatBatch:
    """Run `batch` through a model that takes exactly `size` samples per call.

    The last chunk is padded with zeros and the padding's outputs dropped.
    """
    outputs = []
    for start in range(0, len(batch), size):
        chunk = batch[start : start + size]
        real = len(chunk)
        if real < size:
            padding = np.zeros((size - real, *chunk.shape[1:]), dtype=chunk.dtype)
            chunk = np.concatenate([chunk, padding])
        outputs.append(run(chunk)[:real])
    return np.concatenate(outputs)


def _providers(device: str) -> list[Any]:
    kind, index = parse_device(device)
    if kind != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        # CPU stays listed for any operator the CUDA provider lacks.
        return [("CUDAExecutionProvider", {"device_id": str(index)}), "CPUExecutionProvider"]
    if kind == "cuda":
        logger.warning(
            "embedder device %s requested but ONNX Runtime has no CUDA provider "
            "(install onnxruntime-gpu); running on the CPU",
            device,
        )
    return ["CPUExecutionProvider"]


def _create_session(model: str | bytes, providers: list[Any], threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # one branchless graph: parallelism is within operators
    options.log_severity_level = 3  # errors only; our own checks report what matters
    # Idle intra-op workers would otherwise spin for a while after each batch, taking the
    # cores the detector needs for the next frame (the re-ID batch runs between detections).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=options, providers=providers)


def _probe_batch(spec: _InputSpec, count: int) -> FloatBatch:
    """Deterministic, realistic inputs: random pixels through the real preprocessing."""
    width, height = spec.size
    pixels = np.random.default_rng(0).integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    return preprocess_batch(list(pixels), spec.size).astype(spec.dtype)


class OnnxEmbedder:
    """Embedder on an ONNX re-ID model: `images` (N, 3, H, W) -> (N, D) features.

    Crops are preprocessed as in `preprocess.py` at the model's own input size and
    embedded in chunks of at most `max_batch` (or of the model's fixed batch size when
    it cannot be made dynamic; see the module docstring). Raises ModelError at load
    for a missing file, a file that is not ONNX, or an input that is not (N, 3, H, W).
    """

    backend = "onnx"

    def __init__(
        self, path: str | Path, device: str = "auto", max_batch: int = 64, threads: int = 0
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.model_path = Path(path)
        model = _load_model(self.model_path)
        self._input = _InputSpec(model, self.model_path)
        self.threads = resolve_thread_count(threads)
        providers = _providers(device)
        try:
            original = _create_session(str(self.model_path), providers, self.threads)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{self.model_path}: ONNX Runtime cannot load it: {exc}") from None
        fixed = self._input.fixed_batch or 1
        probe = _probe_batch(self._input, fixed + 1)
        reference = self._reference_output(original, probe, fixed)
        self.dim: int = int(reference.shape[1])
        self._session, self.batching = self._pick_batched(
            model, original, providers, probe, reference
        )
        self._chunk = max_batch if self.batching != "fixed" else fixed
        self.max_batch = max_batch
        self.providers: list[str] = list(self._session.get_providers())
        on_cuda = "CUDAExecutionProvider" in self.providers
        self.device = f"cuda:{parse_device(device)[1]}" if on_cuda else "cpu"

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) crops are resized to."""
        return self._input.size

    def _reference_output(self, session: Any, probe: FloatBatch, fixed: int) -> FloatBatch:
        """Per-sample outputs of the unmodified model; also checks the output's shape."""
        try:
            output = run_in_fixed_batches(lambda x: self._run(session, x), probe, fixed)
        except Exception as exc:  # a model that fails on its own declared input shape
            raise ModelError(
                f"{self.model_path}: the model fails on a {fixed}x3x{self._input.size[1]}x"
                f"{self._input.size[0]} input: {exc}"
            ) from None
        if output.ndim != 2 or output.shape[0] != len(probe) or output.shape[1] < 1:
            raise ModelError(
                f"{self.model_path}: expected an (N, D) embedding output, got shape "
                f"{output.shape[1:]} per batch (is this a re-ID model?)"
            )
        return output

    def _pick_batched(
        self,
        model: onnx.ModelProto,
        original: Any,
        providers: list[Any],
        probe: FloatBatch,
        reference: FloatBatch,
    ) -> tuple[Any, BatchingMode]:
        """A session that takes any batch size, verified; else the original, fixed."""
        fixed = self._input.fixed_batch
        mode: BatchingMode
        if fixed is None:
            candidate, mode = original, "dynamic"
        else:
            candidate, mode = self._dynamic_session(model, fixed, providers), "made-dynamic"
        if candidate is not None and self._agrees(candidate, probe, reference):
            if mode == "made-dynamic":  # said in plain words: this is a user-visible line
                logger.info(
                    "%s: exported for %d crop(s) per call; runs any number of crops per call",
                    self.model_path.name,
                    fixed,
                )
            return candidate, mode
        logger.info(
            "%s: results for more than %d crop(s) per call differ; running %d at a time",
            self.model_path.name,
            fixed or 1,
            fixed or 1,
        )
        return original, "fixed"

    def _dynamic_session(
        self, model: onnx.ModelProto, fixed: int, providers: list[Any]
    ) -> Any | None:
        try:
            dynamic = make_batch_dynamic(model, fixed)
            return _create_session(dynamic.SerializeToString(), providers, self.threads)
        except Exception as exc:  # any failure here just means: keep the fixed batch
            logger.info("%s: cannot make the batch dynamic: %s", self.model_path, exc)
            return None

    def _agrees(self, session: Any, probe: FloatBatch, reference: FloatBatch) -> bool:
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # a failure is an expected answer here, not an error
        try:
            batched = self._run(session, probe, quiet)
        except Exception as exc:  # e.g. a Gemm whose shape still assumes the fixed batch
            logger.info("%s: batched probe run failed: %s", self.model_path, exc)
            return False
        return batched.shape == reference.shape and bool(
            np.allclose(
                l2_normalise(batched.astype(np.float32)),
                l2_normalise(reference.astype(np.float32)),
                atol=_PROBE_ATOL,
            )
        )

    def _run(self, session: Any, batch: FloatBatch, options: Any = None) -> FloatBatch:
        output: FloatBatch = session.run(None, {self._input.name: batch}, options)[0]
        return output

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(N, dim) unit-norm float32 embeddings of BGR uint8 crops, in one call."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = preprocess_batch(crops, self._input.size).astype(self._input.dtype, copy=False)
        if self.batching == "fixed":
            raw = run_in_fixed_batches(lambda x: self._run(self._session, x), batch, self._chunk)
        else:
            raw = np.concatenate(
                [
                    self._run(self._session, batch[start : start + self._chunk])
                    for start in range(0, len(batch), self._chunk)
                ]
            )
        return l2_normalise(raw.astype(np.float32, copy=False))
