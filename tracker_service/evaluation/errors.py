"""Errors of the evaluation package: each names the file (and line) that caused it."""

from __future__ import annotations

from pathlib import Path


class EvaluationError(Exception):
    """Input that cannot be evaluated: a missing file or sequence, a malformed row."""


class MotFormatError(EvaluationError):
    """A MOTChallenge file (or seqinfo.ini) that does not follow the format."""

    def __init__(self, source: str | Path, line: int | None, reason: str) -> None:
        self.source = str(source)
        self.line = line
        self.reason = reason
        where = self.source if line is None else f"{self.source}:{line}"
        super().__init__(f"{where}: {reason}")


class MissingResultsError(EvaluationError):
    """A ground-truth sequence has no results file."""

    def __init__(self, sequence: str, expected: Path) -> None:
        self.sequence = sequence
        self.expected = expected
        super().__init__(f"no results for sequence {sequence!r}: {expected} not found")
