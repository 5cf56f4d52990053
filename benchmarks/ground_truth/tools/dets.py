"""Dump every person detection (score >= 0.05) and Ultralytics ByteTrack's tracks for a video.

usage: dets.py VIDEO OUT_PREFIX  ->  OUT_PREFIX.dets.txt (id -1) and OUT_PREFIX.bt.txt (MOT rows,
frames 1-based, 7th column the score). The detector is the shared YOLOv8n INT8 export.
"""

import os
import sys
from pathlib import Path

import cv2
from ultralytics import YOLO

ASSETS = Path(os.environ.get("TRACKER_ASSETS", "../shared/assets"))
WEIGHTS = str(ASSETS / "models" / "yolov8n_int8_openvino_model")


def row(frame: int, ident: int, xyxy: list[float], score: float) -> str:
    x1, y1, x2, y2 = xyxy
    return f"{frame},{ident},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},{score:.3f}\n"


def main(video: str, out: str) -> None:
    model, tracker = YOLO(WEIGHTS, task="detect"), YOLO(WEIGHTS, task="detect")
    capture = cv2.VideoCapture(video)
    frame = 0
    with open(out + ".dets.txt", "w") as dets, open(out + ".bt.txt", "w") as tracks:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            frame += 1
            found = model.predict(image, conf=0.05, classes=[0], imgsz=640, verbose=False)[0]
            for xyxy, score in zip(
                found.boxes.xyxy.tolist(), found.boxes.conf.tolist(), strict=True
            ):
                dets.write(row(frame, -1, xyxy, score))
            followed = tracker.track(
                image,
                conf=0.1,
                classes=[0],
                imgsz=640,
                persist=True,
                tracker="bytetrack.yaml",
                verbose=False,
            )[0]
            if followed.boxes.id is not None:
                boxes = followed.boxes
                for xyxy, score, ident in zip(
                    boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.id.tolist(), strict=True
                ):
                    tracks.write(row(frame, int(ident), xyxy, score))
    print("frames", frame)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
