"""Multi-object tracking: Kalman motion model, association, and the tracker itself.

Pure code: no frames, models or I/O. `Tracker.update(detections)` in, track snapshots out.
"""

from tracker_service.tracking.tracker import Tracker, TrackerOutput

__all__ = ["Tracker", "TrackerOutput"]
