"""Where per-frame results go: MOTChallenge txt, JSON lines, annotated video."""
