"""Contract tests run against every backend, plus ONNX batching, errors and the factory."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from tracker_service.config import ConfigError, EmbedderConfig
from tracker_service.model_store import ModelError
from tracker_service.reid.base import Embedder, parse_device, resolve_thread_count
from tracker_service.reid.factory import describe, load_embedder
from tracker_service.reid.onnx_embedder import OnnxEmbedder, run_in_fixed_batches
from tracker_service.reid.osnet import build_osnet
from tracker_service.reid.torch_embedder import TorchEmbedder


def random_crops(count: int, seed: int = 0) -> list[NDArray[np.uint8]]:
    """Crops of assorted sizes, some of them non-contiguous views of a frame."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (432, 768, 3), dtype=np.uint8)
    crops = []
    for _ in range(count):
        x, y = int(rng.integers(0, 600)), int(rng.integers(0, 250))
        w, h = int(rng.integers(8, 160)), int(rng.integers(16, 180))
        crops.append(frame[y : y + h, x : x + w])
    return crops


# --- every backend ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3, 7])
def test_unit_norm_rows_of_dim_512(embedder: Embedder, count: int) -> None:
    assert isinstance(embedder, Embedder)
    embeddings = embedder.embed(random_crops(count))
    assert embeddings.shape == (count, 512)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_batched_equals_per_crop(embedder: Embedder) -> None:
    crops = random_crops(7, seed=3)
    batched = embedder.embed(crops)
    one_by_one = np.concatenate([embedder.embed([crop]) for crop in crops])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)


def test_an_empty_crop_is_a_clear_error(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="crop 1 is empty"):
        embedder.embed([np.zeros((20, 10, 3), np.uint8), np.zeros((0, 10, 3), np.uint8)])


# --- ONNX batching -----------------------------------------------------------------------


def test_shared_onnx_fixed_batch_is_made_dynamic(onnx_embedder: OnnxEmbedder) -> None:
    # The shared export is 1x3x256x128 with a Reshape to [1, -1] baked in.
    assert onnx_embedder.batching == "made-dynamic"
    assert onnx_embedder.input_size == (128, 256)
    assert onnx_embedder.dim == 512


def _tiny_onnx(path: Path, batch: int | str, head: str, height: int | str = 8) -> Path:
    """x (batch, 3, height, 4) -> global average pool -> head -> MatMul (3 -> 4)."""
    pooled = helper.make_node("GlobalAveragePool", ["x"], ["pooled"])
    weights = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    initializers = [weights]
    if head == "reshape":  # batch baked into the target, as torch exports do: fixable
        initializers.append(numpy_helper.from_array(np.array([1, -1], np.int64), "shape"))
        flat = helper.make_node("Reshape", ["pooled", "shape"], ["flat"])
    else:  # Flatten(axis=0) folds the batch into the features: not fixable
        flat = helper.make_node("Flatten", ["pooled"], ["flat"], axis=0 if head == "fold" else 1)
    graph = helper.make_graph(
        [pooled, flat, helper.make_node("MatMul", ["flat", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, height, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("batch", "head", "mode"),
    [(1, "reshape", "made-dynamic"), ("N", "flatten", "dynamic"), (1, "fold", "fixed")],
)
def test_onnx_batching_modes_agree_with_per_crop(
    tmp_path: Path, batch: int | str, head: str, mode: str
) -> None:
    embedder = OnnxEmbedder(_tiny_onnx(tmp_path / "tiny.onnx", batch, head), "cpu", 4, 1)
    assert embedder.batching == mode
    assert embedder.input_size == (4, 8)
    crops = random_crops(5)
    batched = embedder.embed(crops)
    assert batched.shape == (5, 4)
    one_by_one = np.concatenate([embedder.embed([crop]) for crop in crops])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_fixed_batches_pad_the_last_chunk() -> None:
    seen: list[int] = []

    def double(chunk: NDArray[np.float32]) -> NDArray[np.float32]:
        seen.append(len(chunk))
        return chunk * 2

    batch = np.arange(5, dtype=np.float32).reshape(5, 1)
    out = run_in_fixed_batches(double, batch, 2)
    np.testing.assert_array_equal(out, batch * 2)
    assert seen == [2, 2, 2]


# --- load errors -------------------------------------------------------------------------


def test_missing_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not found: .*absent\.onnx"):
        OnnxEmbedder(tmp_path / "absent.onnx")


def test_text_file_named_onnx(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are not the weights you are looking for\n" * 20)
    with pytest.raises(ModelError, match=r"notes\.onnx is not an ONNX model"):
        OnnxEmbedder(path)


def test_onnx_with_a_wrong_input_rank(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "flat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "flat.onnx")
    with pytest.raises(ModelError, match=r"flat\.onnx: input 'x' has shape \[1x3\], expected"):
        OnnxEmbedder(tmp_path / "flat.onnx")


def test_onnx_without_a_fixed_image_size(tmp_path: Path) -> None:
    path = _tiny_onnx(tmp_path / "free.onnx", 1, "flatten", height="H")
    with pytest.raises(ModelError, match="height and width must be fixed"):
        OnnxEmbedder(path)


def test_pth_with_the_wrong_layout(tmp_path: Path) -> None:
    state_dict = build_osnet("x0_25", 5).state_dict()
    state_dict.pop("fc.0.weight")
    path = tmp_path / "partial.pth"
    torch.save(state_dict, path)
    with pytest.raises(ModelError, match=r"partial\.pth does not fit OSNet x0_25: 1 missing"):
        TorchEmbedder(path)


def test_text_file_named_pth(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(ModelError, match=r"notes\.pth is not a loadable PyTorch state dict"):
        TorchEmbedder(path)


@pytest.mark.parametrize(
    ("setting", "parsed"),
    [("auto", ("auto", 0)), ("cpu", ("cpu", 0)), ("cuda", ("cuda", 0)), ("cuda:1", ("cuda", 1))],
)
def test_device_settings(setting: str, parsed: tuple[str, int]) -> None:
    assert parse_device(setting) == parsed


def test_thread_count_is_always_explicit() -> None:
    assert resolve_thread_count(3) == 3
    assert resolve_thread_count(0) >= 1


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers() or torch.cuda.is_available(),
    reason="checks the fallback of a machine without CUDA",
)
def test_cuda_requested_without_cuda_falls_back_to_cpu_with_a_warning(
    onnx_reid_path: Path, msmt17_pth: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        onnx_backend = OnnxEmbedder(onnx_reid_path, "cuda:0", threads=1)
        torch_backend = TorchEmbedder(msmt17_pth, "cuda", threads=1)
    assert (onnx_backend.device, torch_backend.device) == ("cpu", "cpu")
    assert onnx_backend.providers == ["CPUExecutionProvider"]
    assert sum("running on the CPU" in m or "using CPU" in m for m in caplog.messages) == 2


def test_unknown_device_is_a_config_error(onnx_reid_path: Path) -> None:
    with pytest.raises(ConfigError, match="'gpu' is not one of"):
        OnnxEmbedder(onnx_reid_path, device="gpu")


# --- factory ---------------------------------------------------------------------------


def test_factory_picks_the_backend_by_suffix(onnx_reid_path: Path, msmt17_pth: Path) -> None:
    onnx_backend = load_embedder(EmbedderConfig(model=str(onnx_reid_path)), Path("unused"))
    torch_backend = load_embedder(
        EmbedderConfig(model=str(msmt17_pth), threads=1, max_batch=8), Path("unused")
    )
    assert isinstance(onnx_backend, OnnxEmbedder)
    assert isinstance(torch_backend, TorchEmbedder)
    info = describe(torch_backend)
    assert (info.backend, info.dim, info.input_size) == ("torch", 512, (128, 256))
    assert (info.device, info.max_batch, info.threads) == ("cpu", 8, 1)
    assert info.model_path == str(msmt17_pth)
    onnx_info = describe(onnx_backend)
    assert (onnx_info.backend, onnx_info.batching, onnx_info.max_batch) == (
        "onnx",
        "made-dynamic",
        64,
    )
    assert onnx_info.threads >= 1  # threads=0 resolves to the CPUs this process may use


def test_factory_resolves_manifest_names(onnx_reid_path: Path) -> None:
    embedder = load_embedder(EmbedderConfig(model="osnet_x0_25_msmt17"), onnx_reid_path.parent)
    assert describe(embedder).model_path == str(onnx_reid_path.parent / "osnet_x0_25_msmt17.onnx")


def test_explicit_backend_overrides_the_suffix(msmt17_pth: Path) -> None:
    config = EmbedderConfig(model=str(msmt17_pth), backend="onnx")
    with pytest.raises(ModelError, match="is not an ONNX model"):
        load_embedder(config, Path("unused"))


@pytest.mark.parametrize("name", ["weights.bin", "model_dir"])
def test_factory_rejects_unsupported_kinds(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    if name.endswith(".bin"):
        target.write_bytes(b"\0" * 16)
    else:
        target.mkdir()
    with pytest.raises(ModelError, match=r"expected .*ONNX \(\.onnx\) or a torchreid OSNet"):
        load_embedder(EmbedderConfig(model=str(target)), tmp_path)


def test_factory_reports_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_embedder(EmbedderConfig(model=str(tmp_path / "nope.onnx")), tmp_path)
