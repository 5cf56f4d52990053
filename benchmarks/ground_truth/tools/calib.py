"""The lab cameras' calibration: image points to the floor (world Z = 0) and back."""

# ruff: noqa: N803, N806  (K, R, T, C, X: the usual camera-geometry notation)
import json
import os
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(os.environ.get("TRACKER_ASSETS", "../shared/assets"))


def load(c):
    d = json.loads((ASSETS / "videos" / "lab-calibration" / f"{c}.json").read_text())
    K = np.array(d["intrinsic"]["doubles"]).reshape(3, 3)
    dist = np.array(d["distortion"]["doubles"])
    T = np.array(d["extrinsic"][0]["tf"]["doubles"]).reshape(4, 4)
    return K, dist, T


def ground(c, u, v, z=0.0):
    """image point -> world point on plane Z=z (T maps world->camera)."""
    K, dist, T = load(c)
    p = cv2.undistortPoints(np.array([[[u, v]]], float), K, dist)[0, 0]
    R, t = T[:3, :3], T[:3, 3]
    C = -R.T @ t
    ray = R.T @ np.array([p[0], p[1], 1.0])
    s = (z - C[2]) / ray[2]
    return C + s * ray


def project(c, X):
    K, dist, T = load(c)
    R, t = T[:3, :3], T[:3, 3]
    rv, _ = cv2.Rodrigues(R)
    return cv2.projectPoints(np.array([X], float), rv, t, K, dist)[0][0, 0]


if __name__ == "__main__":
    for c in ["cam0", "cam1"]:
        K, dist, T = load(c)
        R, t = T[:3, :3], T[:3, 3]
        print(c, "center", -R.T @ t, "det", np.linalg.det(R))
