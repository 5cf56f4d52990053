"""Ground-truth ids that are one person: scoring "who is who" when the ground truth renames
people who come back.

MOTChallenge ground truth may give a person who leaves the view and walks in again a new id
(PETS09-S2L1 does: its 19 ids are 10 people). Scored against such ground truth, an identity
that correctly recognises the returning person counts as a transfer. A people map says
which ids are one person, so that identities can be scored person by person as well.

File format: one `GT_ID,PERSON` pair per line (integers; `#` starts a comment, blank lines
are skipped). Ids not listed are people of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from tracker_service.evaluation.errors import MotFormatError
from tracker_service.evaluation.mot_files import MotRows


def read_people(path: Path) -> dict[int, int]:
    """The map of a people file; raises MotFormatError naming the line."""
    people: dict[int, int] = {}
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            fields = [field.strip() for field in text.split(",")]
            try:
                gt_id, person = (int(field) for field in fields)
            except ValueError:
                raise MotFormatError(
                    path, number, f"expected GT_ID,PERSON (two integers), got {text!r}"
                ) from None
            if people.setdefault(gt_id, person) != person:
                raise MotFormatError(path, number, f"id {gt_id} is given two people")
    return people


def rows_by_person(rows: MotRows, people: Mapping[int, int]) -> MotRows:
    """`rows` with each id replaced by its person; raises MotFormatError where two ids of one
    person are in one frame (one person cannot be two boxes)."""
    ids = np.array([people.get(int(i), int(i)) for i in rows.ids], dtype=np.int64)
    keys = rows.frames * (int(ids.max(initial=0)) + 1) + ids
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        row = int(np.flatnonzero(keys == unique[counts > 1][0])[0])
        raise MotFormatError(
            rows.source,
            rows.line_of(row),
            f"frame {int(rows.frames[row])} has two ids of person {int(ids[row])}: they "
            "cannot be one person",
        )
    return replace(rows, ids=ids)
