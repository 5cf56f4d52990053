"""Dataset layouts: the Market-1501 file-name rule and protocol, the folder layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker_service.reid.preprocess import preprocess
from tracker_service.reid.training.config import AugmentConfig
from tracker_service.reid.training.datasets import (
    DatasetError,
    EvalTransform,
    ReidImageDataset,
    TrainTransform,
    folder_camera,
    load_folder,
    load_market1501,
    load_splits,
    parse_market1501_name,
    train_labels,
)


def write_image(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((32, 16, 3), value, dtype=np.uint8))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0002_c1s1_000451_03.jpg", (2, 1)),
        ("1501_c6s4_001902_01.jpg", (1501, 6)),
        ("0000_c3s2_012345_04.jpg", (0, 3)),
        ("-1_c5s3_065612_03.jpg", (-1, 5)),
        ("0022_c6s1_002976_01.jpg", (22, 6)),  # one of the shared Market-1501 crops
    ],
)
def test_market1501_names(name: str, expected: tuple[int, int]) -> None:
    assert parse_market1501_name(name) == expected


@pytest.mark.parametrize("name", ["Thumbs.db", "c1s1_000451.jpg", "0002-c1s1.jpg", "-2_c1s1_0.jpg"])
def test_market1501_rejects_other_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"Market-1501|below -1"):
        parse_market1501_name(name)


def test_shared_market_crops_parse(assets: Path) -> None:
    names = sorted(path.name for path in (assets / "reid").glob("*.jpg"))
    assert [parse_market1501_name(name)[0] for name in names] == [22, 27, 32, 48, 65]


def test_market1501_protocol_junk_and_distractors(tmp_path: Path) -> None:
    for name in ("0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "-1_c1s1_000001_00.jpg"):
        write_image(tmp_path / "bounding_box_train" / name)
    for name in ("0007_c1s1_000100_01.jpg", "-1_c2s1_000100_01.jpg"):
        write_image(tmp_path / "query" / name)
    gallery = (
        "0007_c2s1_000200_01.jpg",
        "0000_c3s1_000300_01.jpg",  # distractor: kept, can never match
        "-1_c1s1_000400_01.jpg",  # junk: ignored
    )
    for name in gallery:
        write_image(tmp_path / "bounding_box_test" / name)
    (tmp_path / "bounding_box_test" / "Thumbs.db").write_bytes(b"")  # not an image: skipped

    splits = load_market1501(tmp_path)

    assert [(s.pid, s.camid) for s in splits.train] == [(2, 1), (2, 2)]
    assert [(s.pid, s.camid) for s in splits.query] == [(7, 1)]
    assert sorted((s.pid, s.camid) for s in splits.gallery) == [(0, 3), (7, 2)]


def test_market1501_missing_folder_and_bad_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="bounding_box_train"):
        load_market1501(tmp_path)
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        (tmp_path / folder).mkdir()
    write_image(tmp_path / "query" / "holiday.jpg")
    with pytest.raises(DatasetError, match=r"holiday\.jpg"):
        load_market1501(tmp_path)


def test_folder_layout_with_splits(tmp_path: Path) -> None:
    write_image(tmp_path / "train" / "alice" / "cam1_0001.jpg")
    write_image(tmp_path / "train" / "alice" / "cam2_0002.jpg")
    write_image(tmp_path / "train" / "bob" / "0003.jpg")  # no '_': camera "0"
    write_image(tmp_path / "query" / "carol" / "cam1_0001.jpg")
    write_image(tmp_path / "gallery" / "carol" / "cam2_0009.jpg")
    write_image(tmp_path / "gallery" / "dave" / "cam1_0004.png")

    splits = load_splits("folder", tmp_path)

    pid = {name: number for number, name in enumerate(["alice", "bob", "carol", "dave"], 1)}
    camera = {"0": 0, "cam1": 1, "cam2": 2}
    assert [(s.path.name, s.pid, s.camid) for s in splits.train] == [
        ("cam1_0001.jpg", pid["alice"], camera["cam1"]),
        ("cam2_0002.jpg", pid["alice"], camera["cam2"]),
        ("0003.jpg", pid["bob"], camera["0"]),
    ]
    # The same identity name is the same pid in query and gallery.
    assert splits.query[0].pid == splits.gallery[0].pid == pid["carol"]
    assert splits.query[0].camid != splits.gallery[0].camid
    assert splits.can_evaluate


def test_folder_layout_without_splits_is_all_training(tmp_path: Path) -> None:
    write_image(tmp_path / "7" / "a_1.jpg")
    write_image(tmp_path / "8" / "b_1.jpg")
    splits = load_folder(tmp_path)
    assert len(splits.train) == 2 and not splits.query and not splits.gallery
    assert not splits.can_evaluate


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no usable images"):
        load_splits("folder", tmp_path)


@pytest.mark.parametrize(
    ("name", "camera"), [("cam3_000123.jpg", "cam3"), ("t02_x_y.jpg", "t02"), ("x.jpg", "0")]
)
def test_folder_camera_is_the_prefix(name: str, camera: str) -> None:
    assert folder_camera(name) == camera


def test_train_labels_are_contiguous(tmp_path: Path) -> None:
    for name in ("0010_c1s1_1_01.jpg", "0003_c1s1_2_01.jpg", "0010_c2s1_3_01.jpg"):
        write_image(tmp_path / "bounding_box_train" / name)
    for folder in ("query", "bounding_box_test"):
        (tmp_path / folder).mkdir()
    samples = load_market1501(tmp_path).train
    labels, pids = train_labels(samples)
    assert pids == [3, 10]
    assert labels == [pids.index(s.pid) for s in samples]


def test_eval_transform_is_the_service_preprocessing() -> None:
    image = np.random.default_rng(0).integers(0, 256, (90, 40, 3), dtype=np.uint8)
    tensor = EvalTransform((64, 128))(image)
    assert torch.equal(tensor, torch.from_numpy(preprocess(image, (64, 128))))


def test_train_transform_shape_and_reproducibility() -> None:
    image = np.random.default_rng(1).integers(0, 256, (90, 40, 3), dtype=np.uint8)
    transform = TrainTransform((64, 128), AugmentConfig())
    torch.manual_seed(3)
    first = [transform(image) for _ in range(4)]
    torch.manual_seed(3)
    second = [transform(image) for _ in range(4)]
    assert all(t.shape == (3, 128, 64) and t.dtype == torch.float32 for t in first)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(first[0], other) for other in first[1:])  # it does augment


def test_train_transform_without_augmentation_is_the_eval_transform() -> None:
    image = np.random.default_rng(2).integers(0, 256, (90, 40, 3), dtype=np.uint8)
    plain = AugmentConfig(flip_p=0.0, pad=0, erasing_p=0.0)
    assert torch.equal(TrainTransform((64, 128), plain)(image), EvalTransform((64, 128))(image))


def test_image_dataset_items(tmp_path: Path) -> None:
    write_image(tmp_path / "train" / "p1" / "c1_1.jpg", 10)
    write_image(tmp_path / "train" / "p2" / "c2_1.jpg", 200)
    samples = load_folder(tmp_path).train
    dataset = ReidImageDataset(samples, EvalTransform((16, 32)), labels=[5, 6])
    image, label, camid = dataset[1]
    assert image.shape == (3, 32, 16)
    assert (label, camid) == (6, samples[1].camid)
    with pytest.raises(ValueError, match="labels"):
        ReidImageDataset(samples, EvalTransform((16, 32)), labels=[1])
