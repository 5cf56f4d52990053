"""Preprocessing values checked against numbers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.reid.preprocess import l2_normalise, preprocess, preprocess_batch

# (value/255 - mean) / std per RGB channel, worked out by hand:
R_OF_255 = (1.0 - 0.485) / 0.229  # 2.248908...
G_OF_128 = (128 / 255 - 0.456) / 0.224  # 0.205182...
B_OF_0 = (0.0 - 0.406) / 0.225  # -1.804444...
R_OF_0 = (0.0 - 0.485) / 0.229  # -2.117904...
B_OF_255 = (1.0 - 0.406) / 0.225  # 2.64


def test_constant_bgr_crop_becomes_normalised_rgb_planes() -> None:
    crop = np.empty((256, 128, 3), dtype=np.uint8)
    crop[:] = (0, 128, 255)  # B, G, R as OpenCV stores them
    out = preprocess(crop)
    assert out.shape == (3, 256, 128)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], 2.248908, atol=1e-5)  # R
    np.testing.assert_allclose(out[1], 0.205182, atol=1e-5)  # G
    np.testing.assert_allclose(out[2], -1.804444, atol=1e-5)  # B
    np.testing.assert_allclose([R_OF_255, G_OF_128, B_OF_0], out[:, 0, 0], atol=1e-5)


def test_layout_is_channels_first_with_x_along_the_last_axis() -> None:
    crop = np.zeros((256, 128, 3), dtype=np.uint8)
    crop[:, :64] = (255, 0, 0)  # left half pure blue
    crop[:, 64:] = (0, 0, 255)  # right half pure red
    out = preprocess(crop)
    np.testing.assert_allclose(out[0, :, :64], R_OF_0, atol=1e-5)
    np.testing.assert_allclose(out[0, :, 64:], R_OF_255, atol=1e-5)
    np.testing.assert_allclose(out[2, :, :64], B_OF_255, atol=1e-5)
    np.testing.assert_allclose(out[2, :, 64:], B_OF_0, atol=1e-5)


def test_resize_is_bilinear_to_128_by_256() -> None:
    # A 1x2 image, black then white, stretched to 128 columns. With OpenCV's half-pixel
    # bilinear mapping, src_x = (x + 0.5) * 2 / 128 - 0.5: columns 0-31 sit left of the
    # first pixel centre (pure black), 96-127 right of the second (pure white), and
    # column 40 maps to 0.133, about 34/255. Nearest-neighbour would give 0 there.
    crop = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    red = preprocess(crop)[0]
    assert red.shape == (256, 128)
    np.testing.assert_allclose(red[:, :32], R_OF_0, atol=1e-5)
    np.testing.assert_allclose(red[:, 96:], R_OF_255, atol=1e-5)
    column_40 = red[0, 40] * 0.229 + 0.485  # back to [0, 1]
    assert column_40 == pytest.approx(34 / 255, abs=1.5 / 255)
    assert np.all(np.diff(red[0]) >= 0)


def test_batch_shapes_and_custom_size() -> None:
    crops = [np.full((h, w, 3), 7, dtype=np.uint8) for h, w in ((10, 5), (300, 90), (1, 1))]
    batch = preprocess_batch(crops)
    assert batch.shape == (3, 3, 256, 128)
    assert batch.dtype == np.float32
    assert batch.flags.c_contiguous
    assert preprocess_batch(crops, size=(64, 128)).shape == (3, 3, 128, 64)


def test_empty_list_gives_an_empty_batch() -> None:
    batch = preprocess_batch([])
    assert batch.shape == (0, 3, 256, 128)
    assert batch.dtype == np.float32


def test_a_slice_of_a_frame_equals_its_copy() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    view = frame[10:90, 30:70]  # not contiguous, as a crop of a frame is
    np.testing.assert_array_equal(preprocess(view), preprocess(view.copy()))


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((0, 10, 3), np.uint8, "crop 1 is empty"),
        ((10, 0, 3), np.uint8, "crop 1 is empty"),
        ((10, 10), np.uint8, "HxWx3"),
        ((10, 10, 4), np.uint8, "HxWx3"),
        ((10, 10, 3), np.float32, "uint8"),
    ],
)
def test_bad_crops_are_rejected_by_index(
    shape: tuple[int, ...], dtype: type[np.generic], message: str
) -> None:
    good = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=message):
        preprocess_batch([good, np.zeros(shape, dtype=dtype)])


def test_l2_normalise_keeps_zero_rows_finite() -> None:
    vectors = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(l2_normalise(vectors), [[0.6, 0.8], [0.0, 0.0]])
