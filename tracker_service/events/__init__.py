"""Events after the pipeline: zone/line counting, files, history, rules and notifications."""
