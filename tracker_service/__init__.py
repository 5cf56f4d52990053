"""Real-time person tracking service."""
