"""Semi-automatic ground truth: link raw detections to hand-declared persons.

usage (from the folder holding the detection dumps): link.py SPEC.py OUT_gt.txt [SOURCES.json]

A spec defines W, H, DETS (the dets.py dump), MINCONF, optional GATE/MAXGAP/SMOOTH, and
PERSONS = {id: dict(start, end, seed=(x, y), keys={frame: (x, y, w, h) | None},
skip=[(a, b)], anchor=(x, y, w, h), anchor_iou)}. Each frame, persons in view are matched to
detections by IoU with their last box (Hungarian); keys are boxes drawn by hand (a None key
forces interpolation where the detection was wrong); gaps are filled linearly; a seated
person with an anchor keeps the anchor box. Each corner is median-filtered over 5 frames.
"""

import runpy
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def load_dets(path, minconf):
    d = {}
    for line in Path(path).read_text().splitlines():
        v = line.strip().split(",")
        f, box, s = int(v[0]), tuple(map(float, v[2:6])), float(v[6])
        if s >= minconf:
            d.setdefault(f, []).append((box, s))
    for f, found in d.items():  # NMS 0.7
        keep = []
        for b, s in sorted(found, key=lambda t: -t[1]):
            if all(iou(b, k[0]) < 0.7 for k in keep):
                keep.append((b, s))
        d[f] = keep
    return d


def smooth(a, src, k):
    """Median of each corner over k consecutive detected frames: removes one-frame outliers of the
    detector, keeps monotone motion; hand boxes stay as drawn."""
    if k <= 1:
        return a
    fs = sorted(a)
    out = dict(a)
    h = k // 2
    for _n, f in enumerate(fs):
        if src[f] == "key":
            continue
        # symmetric window, shrunk where the run of detections ends: entries stay unbiased
        r = h
        while r > 0 and not all((f + d) in a and src[f + d] != "key" for d in range(-r, r + 1)):
            r -= 1
        win = [f + d for d in range(-r, r + 1)]
        c = np.array([[a[g][0], a[g][1], a[g][0] + a[g][2], a[g][1] + a[g][3]] for g in win])
        x1, y1, x2, y2 = np.median(c, axis=0)
        out[f] = (x1, y1, x2 - x1, y2 - y1)
    return out


def visible(p, f):
    return p["start"] <= f <= p["end"] and not any(a <= f <= b for a, b in p.get("skip", []))


def run(spec):  # noqa: PLR0915  (one pass, kept in one place to read as a whole)
    spec_ = runpy.run_path(spec)
    dets = load_dets(spec_["DETS"], spec_.get("MINCONF", 0.05))
    persons = spec_["PERSONS"]
    gate = spec_.get("GATE", 0.2)
    last = {}
    assigned = {pid: {} for pid in persons}
    source = {pid: {} for pid in persons}
    first = min(p["start"] for p in persons.values())
    end = max(p["end"] for p in persons.values())
    for f in range(first, end + 1):
        act = [pid for pid, p in persons.items() if visible(p, f)]
        fixed = {pid: persons[pid].get("keys", {}).get(f, "no") for pid in act}
        free = [pid for pid in act if fixed[pid] == "no"]
        for pid in act:
            if fixed[pid] not in ("no", None):
                assigned[pid][f] = tuple(fixed[pid])
                source[pid][f] = "key"
                last[pid] = (f, assigned[pid][f])
        ds = dets.get(f, [])
        # detections that overlap a hand box strongly are taken by it
        ds = [
            d
            for d in ds
            if all(iou(d[0], assigned[pid][f]) < 0.5 for pid in act if source[pid].get(f) == "key")
        ]
        if not free or not ds:
            continue
        cost = np.ones((len(free), len(ds)))
        for i, pid in enumerate(free):
            p = persons[pid]
            if pid in last and f - last[pid][0] <= spec_.get("MAXGAP", 12):
                pred = last[pid][1]
                for j, (b, _s) in enumerate(ds):
                    cost[i, j] = 1 - iou(pred, b)
            elif (p.get("seed") and f == p["start"]) or (pid not in last and p.get("seed")):
                x, y = p["seed"]
                for j, (b, _s) in enumerate(ds):
                    if b[0] <= x <= b[0] + b[2] and b[1] <= y <= b[1] + b[3]:
                        cost[i, j] = 0.1 + 0.001 * abs(b[0] + b[2] / 2 - x)
        for i, pid in enumerate(
            free
        ):  # a person with an anchor (seated) only takes boxes close to it
            anchor = persons[pid].get("anchor")
            if anchor:
                for j, (b, _s) in enumerate(ds):
                    cost[i, j] = (
                        1 - iou(anchor, b)
                        if iou(anchor, b) >= persons[pid].get("anchor_iou", 0.5)
                        else 1.0
                    )
        r, c = linear_sum_assignment(cost)
        for i, j in zip(r, c, strict=False):
            if cost[i, j] < 1 - gate:
                pid = free[i]
                assigned[pid][f] = ds[j][0]
                source[pid][f] = f"det{ds[j][1]:.2f}"
                last[pid] = (f, ds[j][0])
    for (
        pid,
        p,
    ) in persons.items():  # anchored persons: the anchor box wherever no detection was taken
        if p.get("anchor"):
            for f in range(p["start"], p["end"] + 1):
                if (
                    visible(p, f)
                    and f not in assigned[pid]
                    and p.get("keys", {}).get(f, "no") == "no"
                ):
                    assigned[pid][f] = tuple(p["anchor"])
                    source[pid][f] = "key"
    rows = []
    report = []
    for pid, p in persons.items():
        a = smooth(assigned[pid], source[pid], spec_.get("SMOOTH", 5))
        fs = sorted(a)
        filled = 0
        missing_ends = []
        for f in range(p["start"], p["end"] + 1):
            if not visible(p, f):
                continue
            if f in a:
                b = a[f]
            else:
                prev = [g for g in fs if g < f]
                nxt = [g for g in fs if g > f]
                if prev and nxt:
                    g0, g1 = prev[-1], nxt[0]
                    t = (f - g0) / (g1 - g0)
                    b = tuple(np.array(a[g0]) * (1 - t) + np.array(a[g1]) * t)
                    filled += 1
                else:
                    missing_ends.append(f)
                    continue
            x1, y1 = max(0, b[0]), max(0, b[1])
            x2, y2 = min(spec_["W"], b[0] + b[2]), min(spec_["H"], b[1] + b[3])
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            rows.append((f, pid, x1, y1, x2 - x1, y2 - y1))
        kinds = list(source[pid].values())
        boxes = sum(1 for r in rows if r[1] == pid)
        detected = sum(1 for s in kinds if s.startswith("det"))
        report.append(
            f"id {pid}: {p['start']}-{p['end']} boxes {boxes} det {detected} "
            f"key {kinds.count('key')} interp {filled} no-box {len(missing_ends)}"
        )
    rows.sort()
    return rows, report, source


if __name__ == "__main__":
    rows, report, source = run(sys.argv[1])
    with open(sys.argv[2], "w") as out:
        for f, pid, x, y, w, h in rows:
            out.write(f"{f},{pid},{x:.1f},{y:.1f},{w:.1f},{h:.1f},1,-1,-1,-1\n")
    print("\n".join(report))
    if len(sys.argv) > 3:
        import json

        Path(sys.argv[3]).write_text(json.dumps({str(k): v for k, v in source.items()}))
