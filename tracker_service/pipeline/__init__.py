"""The stages of one stream, in the order a frame meets them.

`stream.StreamPipeline` runs them: detector -> tracker -> re-ID `gate` (which detections need
an embedding) -> embedder -> per-track `cache` -> `identities` (global ids from the shared
gallery) -> `FrameResult` for the sinks. Files (`runner`) and cameras (`streams`) share it.
"""

from tracker_service.pipeline.stream import PipelineStats, StageTimes, StreamPipeline

__all__ = ["PipelineStats", "StageTimes", "StreamPipeline"]
