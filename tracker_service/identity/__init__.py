"""Identity evidence: which views of a track are good, how consistent a track's looks are."""
