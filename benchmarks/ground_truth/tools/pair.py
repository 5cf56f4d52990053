"""Side-by-side lab frames: pair.py out.png frames [mot0 mot1] --scale"""

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from review import load_mot, read_frames

ASSETS = Path(os.environ.get("TRACKER_ASSETS", "../shared/assets"))
p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("frames")
p.add_argument("--m0")
p.add_argument("--m1")
p.add_argument("--scale", type=float, default=0.4)
p.add_argument("--d0")
p.add_argument("--d1")
p.add_argument("--minconf", type=float, default=0.25)
a = p.parse_args()
frames = [int(x) for x in a.frames.split(",")]


def read(v):
    return read_frames(ASSETS / "videos" / f"{v}.mp4", frames)


cols = [
    (0, 255, 0),
    (0, 0, 255),
    (255, 0, 0),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 0),
    (0, 128, 255),
    (128, 0, 255),
]
rows = []
images = [read("lab-cam0"), read("lab-cam1")]
M = [load_mot(a.m0), load_mot(a.m1)]
D = [load_mot(a.d0), load_mot(a.d1)]
for f in frames:
    tiles = []
    for k in range(2):
        img = images[k][f].copy()
        for _i, x, y, w, h, s in D[k].get(f, []):
            if s < a.minconf:
                continue
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), (200, 200, 200), 1)
            cv2.putText(
                img,
                f"{s:.2f}",
                (int(x) + 2, int(y + h) - 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8,
                (200, 200, 200),
                2,
            )
        for i, x, y, w, h, _s in M[k].get(f, []):
            c = cols[i % len(cols)]
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), c, 4)
            cv2.putText(img, str(i), (int(x) + 4, int(y) + 40), cv2.FONT_HERSHEY_SIMPLEX, 1.6, c, 4)
        img = cv2.resize(img, None, fx=a.scale, fy=a.scale)
        cv2.putText(img, f"cam{k} #{f}", (5, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        tiles.append(img)
    rows.append(np.hstack(tiles))
cv2.imwrite(a.out, np.vstack(rows))
