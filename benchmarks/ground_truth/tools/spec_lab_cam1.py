W, H = 1288, 728
DETS = "lab-cam1.dets.txt"
MINCONF = 0.1
MAXGAP = 15
PERSONS = {
    1: dict(start=1, end=268, seed=(562, 150)),
    2: dict(start=1, end=268, seed=(270, 120)),
    3: dict(start=1, end=268, anchor=(425, 17, 85, 170), anchor_iou=1.01, skip=[(15, 41)]),
}
