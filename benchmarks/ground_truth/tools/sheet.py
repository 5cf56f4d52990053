"""Contact sheet: whole frames of a video with MOT boxes drawn (first file thick, with ids).

usage: sheet.py VIDEO OUT.png FRAMES [MOT...] [--scale S] [--cols N] [--minconf C]
"""

import argparse

import cv2
import numpy as np
from review import load_mot, read_frames

p = argparse.ArgumentParser()
p.add_argument("video")
p.add_argument("out")
p.add_argument("frames")
p.add_argument("mots", nargs="*")
p.add_argument("--scale", type=float, default=0.5)
p.add_argument("--cols", type=int, default=3)
p.add_argument("--minconf", type=float, default=0.0)
a = p.parse_args()
frames = [int(x) for x in a.frames.split(",")]
colors = [(0, 255, 0), (0, 0, 255), (255, 128, 0), (0, 255, 255)]
boxes = [load_mot(m) for m in a.mots]
imgs = read_frames(a.video, frames)
tiles = []
for f in frames:
    img = imgs.get(f, np.zeros((10, 10, 3), np.uint8)).copy()
    for k, d in enumerate(boxes):
        c = colors[k % len(colors)]
        for i, x, y, w, h, s in d.get(f, []):
            if s < a.minconf:
                continue
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), c, 2 if k == 0 else 1)
            lab = str(i) if i >= 0 else f"{s:.2f}"
            ty = int(y) + 18 if k == 0 else int(y + h) - 4
            cv2.putText(
                img,
                lab,
                (int(x) + 3, max(ty, 14)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.7 if k == 0 else 0.5,
                c,
                2 if k == 0 else 1,
            )
    img = cv2.resize(img, None, fx=a.scale, fy=a.scale)
    cv2.putText(img, f"#{f}", (5, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    tiles.append(img)
h, w = tiles[0].shape[:2]
rows = []
for r in range(0, len(tiles), a.cols):
    row = tiles[r : r + a.cols]
    row += [np.zeros_like(tiles[0])] * (a.cols - len(row))
    rows.append(np.hstack([cv2.resize(t, (w, h)) for t in row]))
cv2.imwrite(a.out, np.vstack(rows))
