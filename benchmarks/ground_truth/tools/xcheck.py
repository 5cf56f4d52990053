import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
from calib import ground

G = {}
for c in (0, 1):
    for line in Path(f"cam{c}_gt.txt").read_text().splitlines():
        v = line.split(",")
        f, i = int(v[0]), int(v[1])
        x, y, w, h = map(float, v[2:6])
        if i in (1, 2):
            G[(c, f, i)] = ground(f"cam{c}", x + w / 2, y + h)[:2]
bad = []
for f in range(1, 269):
    for i in (1, 2):
        if (0, f, i) in G and (1, f, i) in G:
            d = np.linalg.norm(G[(0, f, i)] - G[(1, f, i)])
            o = 3 - i
            dx = np.linalg.norm(G[(0, f, i)] - G[(1, f, o)]) if (1, f, o) in G else 9
            if d > 0.6 or dx < d:
                bad.append((f, i, round(d, 2), round(dx, 2)))
print(len(bad), bad[:60])
