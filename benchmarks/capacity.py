"""Cameras per machine: how many live cameras one box tracks in real time.

A real RTSP server on 127.0.0.1 (`scripts/rtsp_server.py`, GStreamer) loops
`videos/people-detection.mp4` as a live camera (24 fps, every client sees the same picture).
For each N in `--cameras` (1, 2, 4, ...):

- ours: one `tracker-service serve` process (the shared detector and re-ID model), N streams
  added through `POST /v1/streams`, every frame event followed over the WebSocket;
- Ultralytics, the way users scale it today: N processes, each running
  `YOLO(detector).track(source=URL, stream=True, tracker="bytetrack.yaml")` on one camera.

After a warm-up, each side is measured for `--seconds` (60): processed fps per camera (the
slowest camera counts), lag p50/p95 (ours: capture to result, from the frame events;
Ultralytics' stream loader does not expose when a frame was captured, so it has none),
the share of the camera's frames dropped, CPU (cores used) and memory (RSS), and for ours
the identities per camera and over all cameras (the same 7 people on every camera). A side
sustains N cameras when every camera gets >= 5 processed fps and (ours) lag p95 < 1 s.

    uv run python benchmarks/capacity.py                      # 1, 2, 4, 8 cameras
    uv run python benchmarks/capacity.py --cameras 1 2 --seconds 20 --results /tmp/r.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    RESULTS_FILE,
    assets_root,
    command_line,
    machine_lines,
    markdown_table,
    require,
    write_json,
    write_section,
)

sys.path.insert(0, str(REPO_ROOT))  # the RTSP camera and service helpers of the tests

SECTION = "capacity"
CAMERA_FPS = 24.0  # people-detection.mp4
MIN_FPS = 5.0
MAX_LAG_P95_S = 1.0
CONNECT_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 600.0
SIDES = ("ours", "ours-motion", "ultralytics")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Side:
    """One side (ours or Ultralytics) at one N."""

    name: str
    cameras: int
    fps: list[float] = field(default_factory=list)  # per camera
    lag_s: list[float] = field(default_factory=list)  # pooled over cameras
    dropped_share: float | None = None
    cpu_cores: float = 0.0
    rss_mib: float = 0.0
    identities_per_camera: list[int] = field(default_factory=list)
    identities_total: int | None = None
    # Identities the gallery holds once the cameras are removed (provisional identities
    # folded into the person they turned out to be count once): what the API answers with.
    identities_held: int | None = None
    error: str | None = None

    @property
    def min_fps(self) -> float:
        return min(self.fps) if self.fps else 0.0

    def lag(self, q: float) -> float | None:
        if not self.lag_s:
            return None
        return statistics.quantiles(self.lag_s, n=100)[q - 1] if len(self.lag_s) > 1 else None

    @property
    def sustained(self) -> bool:
        if self.error or len(self.fps) < self.cameras or self.min_fps < MIN_FPS:
            return False
        p95 = self.lag(95)
        return p95 is None or p95 < MAX_LAG_P95_S


# --- process accounting ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- ours -----------------------------------------------------------------------------------


def _follow(url: str, until: float, frames: list[dict[str, Any]]) -> None:
    """Collect the frame events of one stream's WebSocket until `until` (monotonic)."""
    from websockets.sync.client import connect

    with connect(url, open_timeout=30) as socket:
        while (left := until - time.monotonic()) > 0:
            try:
                message = socket.recv(timeout=left)
            except TimeoutError:
                break
            event = json.loads(message)
            if event.get("type") == "frame":
                frames.append(event)


def _wait_live(client: Any, ids: Sequence[str]) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while time.monotonic() < deadline:
        states = [client.get(f"/v1/streams/{i}").json()["state"] for i in ids]
        if all(state == "live" for state in states):
            return
        if any(state in ("failed", "stopped") for state in states):
            raise RuntimeError(f"a stream ended: {states}")
        time.sleep(1.0)
    raise RuntimeError("streams did not go live in time")


def _add_events(side: Side, events: dict[str, list[dict[str, Any]]], elapsed: float) -> None:
    """Per camera: processed fps, lags and the identities its frame events name."""
    everyone: set[int] = set()
    for frames in events.values():
        side.fps.append(len(frames) / elapsed)
        side.lag_s += [event["lag_s"] for event in frames]
        seen = {
            track["identity_id"]
            for event in frames
            for track in event["tracks"]
            if track.get("identity_id") is not None
        }
        side.identities_per_camera.append(len(seen))
        everyone |= seen
    side.identities_total = len(everyone)


def measure_ours(
    camera_url: str, cameras: int, args: argparse.Namespace, tmp: Path, motion: bool = False
) -> Side:
    """`motion`: with motion-aware detection on the cameras (`motion.cameras`)."""
    from tests.service import ServiceProcess

    side = Side("ours-motion" if motion else "ours", cameras)
    data = tmp / f"{side.name}-{cameras}"
    data.mkdir()
    env = {
        "TRACKER_CONFIG": str(REPO_ROOT / "configs" / "local-assets.yaml"),
        # The camera is on loopback, which the stream policy refuses unless it is listed.
        "TRACKER_STREAMS__ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    }
    if motion:
        env["TRACKER_MOTION__CAMERAS"] = "true"
    service = ServiceProcess(data, env=env)
    try:
        service.start(wait_ready=False)
        service.wait(ready=True, timeout_s=READY_TIMEOUT_S)  # imports are slow on a busy box
        pid = service._process.pid if service._process else 0
        with service.client() as client:
            ids = []
            for index in range(cameras):
                answer = client.post("/v1/streams", json={"url": camera_url, "name": f"cam{index}"})
                answer.raise_for_status()
                ids.append(answer.json()["id"])
            _wait_live(client, ids)
            time.sleep(args.warmup)
            before = {i: client.get(f"/v1/streams/{i}").json() for i in ids}
            cpu_before = cpu_seconds(pid)
            started = time.monotonic()
            until = started + args.seconds
            events: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            ws = service.url.replace("http://", "ws://")
            threads = [
                threading.Thread(
                    target=_follow, args=(f"{ws}/v1/streams/{i}/events", until, events[i])
                )
                for i in ids
            ]
            for thread in threads:
                thread.start()
            peak = 0.0
            while time.monotonic() < until:
                peak = max(peak, rss_mib(pid))
                time.sleep(1.0)
            for thread in threads:
                thread.join(30)
            elapsed = time.monotonic() - started
            side.cpu_cores = (cpu_seconds(pid) - cpu_before) / elapsed
            side.rss_mib = peak
            after = {i: client.get(f"/v1/streams/{i}").json() for i in ids}
            read = sum(after[i]["frames_read"] - before[i]["frames_read"] for i in ids)
            dropped = sum(after[i]["frames_dropped"] - before[i]["frames_dropped"] for i in ids)
            side.dropped_share = dropped / read if read else None
            _add_events(side, events, elapsed)
            for stream_id in ids:  # tracks end and are decided; sightings are written
                client.delete(f"/v1/streams/{stream_id}").raise_for_status()
            side.identities_held = client.get("/v1/identities", params={"limit": 1}).json()["total"]
    except Exception as exc:  # a side that fails is reported, the run goes on
        side.error = f"{type(exc).__name__}: {exc}"
    finally:
        service.stop()
    return side


# --- Ultralytics, one process per camera ----------------------------------------------------


def ultralytics_worker(url: str, detector: str, warmup: float, seconds: float, out: Path) -> int:
    """One camera, the Ultralytics way: `model.track(source=url, stream=True)`."""
    from ultralytics import YOLO

    model = YOLO(detector, task="detect")
    results = model.track(
        source=url, stream=True, tracker="bytetrack.yaml", classes=[0], verbose=False
    )
    start = time.monotonic()
    measure_from = start + warmup
    frames = 0
    cpu_start = 0.0
    measuring = False
    for _ in results:
        now = time.monotonic()
        if not measuring and now >= measure_from:
            measuring, frames = True, 0
            measure_from = now
            cpu_start = _own_cpu()
        elif measuring:
            frames += 1
        if measuring and now - measure_from >= seconds:
            break
    elapsed = time.monotonic() - measure_from
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json(
        out,
        {
            "fps": frames / elapsed if measuring and elapsed > 0 else 0.0,
            "cpu_cores": (_own_cpu() - cpu_start) / elapsed if measuring else 0.0,
            "rss_mib": peak_mib,
        },
    )
    os._exit(0)  # Ultralytics' reader threads would keep the process alive


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_ultralytics(camera_url: str, cameras: int, args: argparse.Namespace, tmp: Path) -> Side:
    side = Side("ultralytics", cameras)
    outs = [tmp / f"ultra-{cameras}-{i}.json" for i in range(cameras)]
    command = [sys.executable, str(Path(__file__).resolve()), "--ultralytics-worker"]
    processes = [
        subprocess.Popen(
            [
                *command,
                camera_url,
                str(args.detector),
                str(args.warmup),
                str(args.seconds),
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    budget = args.warmup + args.seconds + CONNECT_TIMEOUT_S
    errors = []
    for process in processes:
        try:
            _, stderr = process.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        if process.returncode != 0:
            errors.append((stderr or "").strip().splitlines()[-1:] or ["no output"])
    for out in outs:
        if out.exists():
            result = json.loads(out.read_text(encoding="utf-8"))
            side.fps.append(result["fps"])
            side.cpu_cores += result["cpu_cores"]
            side.rss_mib += result["rss_mib"]
    if errors:
        side.error = f"{len(errors)} process(es) failed: {errors[0][0]}"
    # A camera process reads every frame and keeps the latest: what it did not process
    # was dropped.
    if side.fps:
        side.dropped_share = max(0.0, 1 - statistics.mean(side.fps) / CAMERA_FPS)
    return side


# --- report ---------------------------------------------------------------------------------


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render(sides: Sequence[Side], argv: Sequence[str], notes: Sequence[str]) -> str:
    rows = []
    for side in sides:
        identities = "-"
        if side.identities_per_camera:
            identities = (
                f"{statistics.median(side.identities_per_camera):g} / {side.identities_total}"
                f" / {_cell(side.identities_held, 'd')}"
            )
        rows.append(
            [
                side.name,
                str(side.cameras),
                _cell(side.min_fps, ".1f") if side.fps else "-",
                _cell(statistics.mean(side.fps) if side.fps else None, ".1f"),
                _cell(side.lag(50), ".2f"),
                _cell(side.lag(95), ".2f"),
                _cell(side.dropped_share * 100 if side.dropped_share is not None else None, ".0f")
                + ("%" if side.dropped_share is not None else ""),
                _cell(side.cpu_cores, ".2f"),
                _cell(side.rss_mib, ".0f"),
                identities,
                "yes" if side.sustained else ("failed: " + side.error if side.error else "no"),
            ]
        )
    best: dict[str, int] = {}
    for side in sides:
        if side.sustained:
            best[side.name] = max(best.get(side.name, 0), side.cameras)
    names = dict.fromkeys(side.name for side in sides)
    summary = ", ".join(f"{name} {best.get(name, 0)}" for name in names)
    headers = [
        "side",
        "cameras",
        "fps (slowest camera)",
        "fps (mean)",
        "lag p50 s",
        "lag p95 s",
        "dropped",
        "CPU cores",
        "RSS MiB",
        "identities (median shown per camera / all shown / held)",
        "sustained",
    ]
    return "\n".join(
        [
            "## Capacity: live cameras per machine",
            "",
            f"Command: `{command_line('capacity.py', argv)}`",
            "",
            *machine_lines(),
            "",
            "One RTSP camera on 127.0.0.1 loops people-detection.mp4 (768x432, 24 fps); every "
            "stream reads it. Ours: one `tracker-service serve` (configs/local-assets.yaml) "
            "with N streams; Ultralytics: N processes of `model.track(source=URL, stream=True, "
            "tracker='bytetrack.yaml')`; the same YOLOv8n INT8 OpenVINO detector. "
            f"Measured for {argv_seconds(argv)} s after a warm-up. Sustained: every camera "
            f">= {MIN_FPS:g} processed fps and lag p95 < {MAX_LAG_P95_S:g} s (Ultralytics' "
            "stream loader does not say when a frame was captured: no lag; its dropped share "
            "is 1 - processed / camera fps). Identities (ours; the clip shows 7 people): "
            "global identities named in the frame events, a provisional one shown before its "
            "track is decided included, and those the gallery holds once the cameras are "
            "removed (`GET /v1/identities`).",
            "",
            markdown_table(headers, rows, text_columns=1),
            "",
            f"**Largest N sustained**: {summary}.",
            *([""] + [f"- {note}" for note in notes] if notes else []),
        ]
    )


def argv_seconds(argv: Sequence[str]) -> str:
    return argv[argv.index("--seconds") + 1] if "--seconds" in argv else "60"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    assets = assets_root()
    parser = argparse.ArgumentParser(description="Live cameras per machine, ours and Ultralytics.")
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per N")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--video", type=Path, default=assets / "videos" / "people-detection.mp4")
    parser.add_argument(
        "--detector", type=Path, default=assets / "models" / "yolov8n_int8_openvino_model"
    )
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    return parser.parse_args(argv)


def _report(sides: Sequence[Side], argv: Sequence[str], args: argparse.Namespace) -> str:
    text = render(sides, argv, args.note)
    if args.json:
        write_json(args.json, {"sides": [asdict(s) for s in sides]})
    if args.results:
        write_section(args.results, SECTION, text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--ultralytics-worker"]:
        url, detector, warmup, seconds, out = argv[1:6]
        return ultralytics_worker(url, detector, float(warmup), float(seconds), Path(out))
    args = parse_args(argv)
    require(args.video, "video")
    require(args.detector, "detector")
    from tests.rtsp import RtspServer, rtsp_unavailable

    if (why := rtsp_unavailable()) is not None:
        raise SystemExit(why)
    sides: list[Side] = []
    with RtspServer(args.video) as camera, tempfile.TemporaryDirectory() as tmp:
        for cameras in args.cameras:
            for name in args.sides:
                started = time.monotonic()
                if name == "ultralytics":
                    side = measure_ultralytics(camera.url, cameras, args, Path(tmp))
                else:
                    motion = name == "ours-motion"
                    side = measure_ours(camera.url, cameras, args, Path(tmp), motion)
                sides.append(side)
                _report(sides, argv, args)  # after every side: a stopped run keeps its numbers
                print(
                    f"[{time.monotonic() - started:5.0f}s] {name} x{cameras}: "
                    f"slowest {side.min_fps:.1f} fps, lag p95 {side.lag(95)}, "
                    f"{side.error or 'ok'}",
                    file=sys.stderr,
                )
    print(_report(sides, argv, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
