"""Zoomed crops of frames with MOT boxes drawn (and an optional pixel grid).

usage: crop.py VIDEO OUT.png FRAMES x0,y0,x1,y1 [MOT...] [--zoom Z] [--cols N] [--grid PX]
"""

import argparse

import cv2
import numpy as np
from review import load_mot, read_frames

p = argparse.ArgumentParser()
p.add_argument("video")
p.add_argument("out")
p.add_argument("frames")
p.add_argument("region")
p.add_argument("mots", nargs="*")
p.add_argument("--zoom", type=float, default=2)
p.add_argument("--cols", type=int, default=4)
p.add_argument("--grid", type=int, default=0)
a = p.parse_args()
frames = [int(x) for x in a.frames.split(",")]
x0, y0, x1, y1 = map(int, a.region.split(","))
boxes = [load_mot(m) for m in a.mots]
imgs = read_frames(a.video, frames)
cols = [(0, 255, 0), (0, 0, 255), (255, 128, 0)]
tiles = []
for f in frames:
    img = imgs[f].copy()
    for k, d in enumerate(boxes):
        for i, x, y, w, h, s in d.get(f, []):
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), cols[k], 1)
            cv2.putText(
                img,
                str(i) if i >= 0 else f"{s:.2f}",
                (int(x) + 2, int(y) + 12 if k == 0 else int(y + h) - 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                cols[k],
                1,
            )
    if a.grid:
        for gx in range((x0 // a.grid) * a.grid, x1, a.grid):
            cv2.line(
                img,
                (gx, y0),
                (gx, y1),
                (255, 255, 255) if gx % (5 * a.grid) == 0 else (128, 128, 128),
                1,
            )
        for gy in range((y0 // a.grid) * a.grid, y1, a.grid):
            cv2.line(
                img,
                (x0, gy),
                (x1, gy),
                (255, 255, 255) if gy % (5 * a.grid) == 0 else (128, 128, 128),
                1,
            )
    c = cv2.resize(img[y0:y1, x0:x1], None, fx=a.zoom, fy=a.zoom, interpolation=cv2.INTER_NEAREST)
    cv2.putText(c, f"#{f}", (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    tiles.append(c)
rows = []
for r in range(0, len(tiles), a.cols):
    row = tiles[r : r + a.cols]
    row += [np.zeros_like(tiles[0])] * (a.cols - len(row))
    rows.append(np.hstack(row))
cv2.imwrite(a.out, np.vstack(rows))
