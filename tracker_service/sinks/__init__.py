"""Where per-frame results go: MOTChallenge txt, JSON lines, annotated video.

The names below are the files of one run's output folder (written by `runner.run_video`,
served by the jobs API).
"""

TRACKS_FILE = "tracks.jsonl"
MOT_FILE = "mot.txt"
VIDEO_FILE = "annotated.mp4"
SUMMARY_FILE = "summary.json"
