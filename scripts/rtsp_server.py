#!/usr/bin/python3
"""A real RTSP camera for tests and demos: serves an H.264 MP4 at its own frame rate.

Runs on the *system* Python with Debian's GStreamer RTSP server bindings (install them with
`scripts/install-system-deps.sh rtsp`); the project's virtual environment is not needed:

    /usr/bin/python3 scripts/rtsp_server.py --file VIDEO.mp4 [--port 8554] [--mount /cam]
        [--loop]

The video is not re-encoded (`qtdemux ! h264parse ! rtph264pay`), so serving costs almost no
CPU. Once it listens, one line `READY rtsp://127.0.0.1:PORT/MOUNT` is printed on stdout
(with `--port 0` the system picks the port and this line says which). SIGTERM or SIGINT
stops it cleanly.

With `--loop`, the end of the file does not end the stream: the pipeline seeks back to the
start, as a camera that never stops. The media is shared between clients, so every client
sees the same "live" picture, like a real camera.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

logger = logging.getLogger("rtsp_server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", required=True, type=Path, help="H.264 MP4 to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", default=8554, type=int, help="TCP port; 0 = any free one")
    parser.add_argument("--mount", default="/stream", help="path of the stream (/stream)")
    parser.add_argument("--loop", action="store_true", help="start again at the end of file")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"video file not found: {args.file}")
    if not 0 <= args.port <= 65535:
        parser.error(f"port out of range: {args.port}")
    if not args.mount.startswith("/"):
        args.mount = "/" + args.mount
    return args


def launch_line(path: Path) -> str:
    # The payloader must be named pay0 for the RTSP server to find the stream.
    location = str(path.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'( filesrc location="{location}" ! qtdemux ! h264parse config-interval=-1 '
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def _loop_on_eos(pad: Gst.Pad, info: Gst.PadProbeInfo, pipeline: Gst.Element) -> Any:
    """Swallow end-of-stream and seek back to the start from the main loop."""
    event = info.get_event()
    if event is None or event.type != Gst.EventType.EOS:
        return Gst.PadProbeReturn.OK

    def rewind() -> bool:
        # A flushing seek from the main loop, never from the streaming thread that holds
        # the stream lock (that would deadlock).
        pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        logger.info("end of file: looping")
        return False

    GLib.idle_add(rewind)
    return Gst.PadProbeReturn.DROP


def _on_media_configure(
    _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia
) -> None:
    pipeline = media.get_element()
    payloader = pipeline.get_by_name("pay0")
    if payloader is None:
        logger.error("no pay0 element in the media pipeline: cannot loop")
        return
    payloader.get_static_pad("sink").add_probe(
        Gst.PadProbeType.EVENT_DOWNSTREAM, _loop_on_eos, pipeline
    )


def build_server(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.file))
    # Shared: every client sees the same live picture, as from one camera.
    factory.set_shared(True)
    if args.loop:
        factory.connect("media-configure", _on_media_configure)
    server.get_mount_points().add_factory(args.mount, factory)
    return server


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s rtsp_server %(levelname)s %(message)s"
    )
    args = parse_args(argv)
    Gst.init(None)
    server = build_server(args)
    loop = GLib.MainLoop()
    try:
        server.attach(None)
    except GLib.Error as exc:
        logger.error("cannot listen on %s:%d: %s", args.host, args.port, exc.message)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, _quit, loop)
    url = f"rtsp://{args.host}:{server.get_bound_port()}{args.mount}"
    # The one line on stdout: whoever started us waits for it before connecting.
    print(f"READY {url}", flush=True)
    logger.info("serving %s at %s%s", args.file, url, " (looping)" if args.loop else "")
    loop.run()
    logger.info("stopped")
    return 0


def _quit(loop: GLib.MainLoop) -> bool:
    loop.quit()
    return GLib.SOURCE_REMOVE


if __name__ == "__main__":
    sys.exit(main())
