"""ONNX export: outputs match PyTorch on real crops and the service's OnnxEmbedder runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from numpy.typing import NDArray

from tests.reid.training.conftest import tiny_config
from tracker_service.reid.onnx_embedder import OnnxEmbedder
from tracker_service.reid.torch_embedder import TorchEmbedder
from tracker_service.reid.training import export as export_module
from tracker_service.reid.training.checkpoint import load_inference_model, save_checkpoint
from tracker_service.reid.training.export import ExportError, export_onnx
from tracker_service.reid.training.models import build_model

Crops = list[NDArray[np.uint8]]


def cosines(first: NDArray[np.float32], second: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.sum(first * second, axis=1)  # both unit-norm


def input_of(path: Path) -> tuple[list[str | int], int]:
    graph_input = onnx.load(str(path)).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    shape: list[str | int] = [dim.dim_param or dim.dim_value for dim in dims]
    return shape, graph_input.type.tensor_type.elem_type


def test_msmt17_export_dynamo_matches_pytorch_and_runs_in_the_service(
    msmt17_pth: Path, market_crops: Crops, tmp_path: Path
) -> None:
    out = tmp_path / "osnet_x0_25_msmt17_export.onnx"
    result = export_onnx(
        load_inference_model(msmt17_pth), out, market_crops, crops_source="market crops"
    )

    assert result.exporter == "dynamo" and result.opset >= 18
    assert result.verification.min_cosine >= 0.999
    assert result.verification.embedder_min_cosine >= 0.999
    assert result.verification.batch_vs_single_max_abs < 1e-4
    shape, elem_type = input_of(out)
    assert shape[1:] == [3, 256, 128] and isinstance(shape[0], str)  # dynamic batch
    assert elem_type == onnx.TensorProto.FLOAT
    # The service loads it unchanged, batches freely, and agrees with its torch backend.
    embedder = OnnxEmbedder(out, device="cpu", max_batch=3, threads=1)
    assert (embedder.dim, embedder.input_size, embedder.batching) == (512, (128, 256), "dynamic")
    reference = TorchEmbedder(msmt17_pth, "cpu", 8, threads=1).embed(market_crops)
    assert cosines(embedder.embed(market_crops), reference).min() >= 0.999
    card = json.loads(result.card_path.read_text())
    assert result.card_path == tmp_path / "osnet_x0_25_msmt17_export.json"
    assert card["input"]["size_wh"] == [128, 256] and card["input"]["dtype"] == "float32"
    assert card["input"]["mean"] == [0.485, 0.456, 0.406]
    assert card["embedding_size"] == 512 and card["backbone"] == "osnet_x0_25"
    assert card["export"]["opset"] == result.opset and card["export"]["exporter"].endswith(
        "(dynamo)"
    )
    assert card["source_weights"]["path"] == str(msmt17_pth)
    assert card["verification"]["images"] == 5
    assert torch.get_num_threads() == 1  # the embedders above were told one thread too


def test_market1501_export_fp16_runs_in_the_service(
    market1501_pth: Path, market_crops: Crops, tmp_path: Path
) -> None:
    out = tmp_path / "market_fp16.onnx"
    loaded = load_inference_model(market1501_pth)
    # The fp16 conversion works on the exported graph whichever exporter made it; the
    # TorchScript one takes 2 s here where dynamo takes 25 (tested once, above).
    result = export_onnx(
        loaded, out, market_crops, crops_source="market crops", fp16=True, exporter="torchscript"
    )

    assert result.fp16 and result.exporter == "torchscript"
    assert result.verification.min_cosine >= 0.999
    assert input_of(out)[1] == onnx.TensorProto.FLOAT16
    embedder = OnnxEmbedder(out, device="cpu", max_batch=8, threads=1)
    reference = TorchEmbedder(market1501_pth, "cpu", 8, threads=1).embed(market_crops)
    assert cosines(embedder.embed(market_crops), reference).min() >= 0.999
    assert json.loads(result.card_path.read_text())["input"]["dtype"] == "float16"


def test_trained_checkpoint_exports_with_gem_and_the_torchscript_fallback(
    mot_reid_root: Path, market_crops: Crops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(mot_reid_root, None, model={"pooling": "gem"})
    model = build_model(config.model, num_classes=6)
    with torch.no_grad():  # non-trivial BN statistics, as a trained model has
        model.bnneck.running_mean.uniform_(-0.5, 0.5)
        model.bnneck.running_var.uniform_(0.5, 2.0)
    checkpoint = tmp_path / "model_final.pt"
    payload = {"epoch": 1, "config": config.model_dump(mode="json"), "num_classes": 6}
    save_checkpoint(checkpoint, payload | {"model": model.state_dict()})

    def broken_dynamo(*args: object) -> None:
        raise RuntimeError("simulated dynamo failure")

    monkeypatch.setattr(export_module, "_export_dynamo", broken_dynamo)
    loaded = load_inference_model(checkpoint)
    result = export_onnx(loaded, tmp_path / "tiny.onnx", market_crops, crops_source="x", fp16=True)

    assert result.exporter == "torchscript"
    assert result.verification.min_cosine >= 0.999
    embedder = OnnxEmbedder(result.onnx_path, device="cpu", threads=1)
    assert (embedder.dim, embedder.input_size) == (512, (64, 128))
    card = json.loads(result.card_path.read_text())
    assert card["pooling"] == "gem" and card["head"] == "reduction+bnneck"
    assert card["training"]["dataset_format"] == "folder"
    with pytest.raises(ExportError, match="dynamo ONNX exporter failed"):
        export_onnx(loaded, tmp_path / "x.onnx", market_crops, crops_source="x", exporter="dynamo")


def test_a_mismatch_fails_and_writes_nothing(
    market1501_pth: Path, market_crops: Crops, tmp_path: Path
) -> None:
    out = tmp_path / "never.onnx"
    with pytest.raises(ExportError, match="does not reproduce"):
        export_onnx(
            load_inference_model(market1501_pth),
            out,
            market_crops,
            crops_source="x",
            exporter="torchscript",
            min_cosine=1.5,
        )
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_float16_overflow_is_caught(
    mot_reid_root: Path, market_crops: Crops, tmp_path: Path
) -> None:
    """An untrained ResNet50 (BN statistics of 0 and 1) grows its activations past
    float16's range on busy random-pixel input, as OnnxEmbedder's load-time probe feeds."""
    torch.manual_seed(0)
    config = tiny_config(mot_reid_root, None, model={"backbone": "resnet50", "pooling": "gem"})
    checkpoint = tmp_path / "r50.pt"
    model = build_model(config.model, num_classes=3)
    payload = {"epoch": 0, "config": config.model_dump(mode="json"), "num_classes": 3}
    save_checkpoint(checkpoint, payload | {"model": model.state_dict()})
    loaded = load_inference_model(checkpoint)
    with pytest.raises(ExportError, match="float16 overflow"):
        export_onnx(
            loaded, tmp_path / "r50.onnx", market_crops, crops_source="x",
            fp16=True, exporter="torchscript",
        )  # fmt: skip
    assert not (tmp_path / "r50.onnx").exists()
