W, H = 1288, 728
DETS = "lab-cam0.dets.txt"
MINCONF = 0.1
MAXGAP = 20
PERSONS = {
    1: dict(
        start=1,
        end=268,
        seed=(577, 180),
        keys={f: None for f in [*range(45, 54), *range(109, 116)]},
    ),
    2: dict(
        start=1,
        end=268,
        keys={
            1: (577, 20, 60, 200),
            5: (577, 20, 60, 200),
            8: (586, 20, 60, 200),
            10: (590, 18, 60, 200),
            14: (586, 18, 60, 200),
            17: (582, 17, 60, 200),
            **{f: None for f in range(2, 26) if f not in (5, 8, 10, 14, 17)},
            **{f: None for f in range(102, 118)},
            26: (519, 14, 59, 200),
        },
    ),
    3: dict(start=1, end=268, anchor=(720, 77, 57, 75), anchor_iou=1.01),
}
