"""Reading and validating MOTChallenge files and seqinfo.ini."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracker_service.evaluation import (
    GT_MIN_COLUMNS,
    RESULTS_MIN_COLUMNS,
    MotFormatError,
    MotRows,
    parse_mot_lines,
    read_mot_file,
    read_seqinfo,
)


def parse(*lines: str, min_columns: int = RESULTS_MIN_COLUMNS, unique_ids: bool = True) -> MotRows:
    return parse_mot_lines(lines, "f.txt", min_columns, unique_ids)


def test_rows_become_arrays() -> None:
    rows = parse("2,7,1.5,2.5,10,20,0.9,-1,-1,-1", "1,3,0,0,5,5,1,-1,-1,-1")
    assert rows.frames.tolist() == [2, 1]
    assert rows.ids.tolist() == [7, 3]
    assert rows.tlwh.tolist() == [[1.5, 2.5, 10, 20], [0, 0, 5, 5]]
    assert rows.confidence.tolist() == [0.9, 1.0]
    assert rows.columns.tolist() == [10, 10]
    assert rows.lines.tolist() == [1, 2]
    assert rows.max_frame == 2


def test_short_rows_get_defaults_and_mot17_columns_are_kept() -> None:
    rows = parse("1,1,0,0,5,5", "2,1,0,0,5,5,1,7,0.25")
    assert rows.confidence.tolist() == [1.0, 1.0]
    assert np.isnan(rows.extra[0]).all()
    assert rows.extra[1, :2].tolist() == [7.0, 0.25]
    assert rows.columns.tolist() == [6, 9]


def test_crlf_blank_lines_spaces_and_trailing_commas(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_bytes(b"1, 1, 0, 0, 5, 5, 1,\r\n\r\n2 1 0 0 5 5 1\r\n")
    rows = read_mot_file(path)
    assert rows.frames.tolist() == [1, 2]
    assert rows.lines.tolist() == [1, 3]
    assert rows.columns.tolist() == [7, 7]


def test_an_empty_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("")
    rows = read_mot_file(path)
    assert len(rows) == 0
    assert rows.tlwh.shape == (0, 4)
    assert rows.max_frame == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1,1,0,0,5", "expected at least 6 columns, found 5"),
        ("1,1,0,zero,5,5", "column 4 is not a number: 'zero'"),
        ("1,1,0,0,5,nan", "column 6 is not finite: 'nan'"),
        ("1.5,1,0,0,5,5", "frame must be a whole number >= 1, got 1.5"),
        ("0,1,0,0,5,5", "frame must be a whole number >= 1, got 0"),
        ("1,2.5,0,0,5,5", "id must be a whole number, got 2.5"),
        ("1,1,0,0,-5,5", "negative box size -5x5"),
    ],
)
def test_malformed_rows_name_file_and_line(line: str, reason: str) -> None:
    with pytest.raises(MotFormatError) as caught:
        parse("1,1,0,0,5,5", line)
    assert str(caught.value) == f"f.txt:2: {reason}"
    assert (caught.value.source, caught.value.line) == ("f.txt", 2)


def test_ground_truth_needs_the_flag_column() -> None:
    with pytest.raises(MotFormatError, match=r"^f\.txt:1: expected at least 7 columns, found 6"):
        parse("1,1,0,0,5,5", min_columns=GT_MIN_COLUMNS)


def test_an_id_twice_in_one_frame_is_an_error() -> None:
    with pytest.raises(MotFormatError) as caught:
        parse("1,4,0,0,5,5", "2,4,0,0,5,5", "1,4,9,9,5,5")
    assert str(caught.value) == "f.txt:3: id 4 appears twice in frame 1 (also on line 1)"


def test_detection_files_may_repeat_ids() -> None:
    rows = parse("1,-1,0,0,5,5,0.9", "1,-1,9,9,5,5,0.8", unique_ids=False)
    assert rows.ids.tolist() == [-1, -1]


def test_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(MotFormatError, match="not a UTF-8 text file"):
        read_mot_file(path)


def test_seqinfo(tmp_path: Path) -> None:
    path = tmp_path / "seqinfo.ini"
    path.write_text(
        "[Sequence]\nname=KITTI-17\nimDir=img1\nframeRate=10\nseqLength=145\n"
        "imWidth=1224\nimHeight=370\nimExt=.jpg\n"
    )
    info = read_seqinfo(path)
    assert (info.name, info.length, info.frame_rate) == ("KITTI-17", 145, 10.0)
    assert (info.width, info.height) == (1224, 370)


def test_seqinfo_of_the_shared_mot15_data(mot15_root: Path) -> None:
    info = read_seqinfo(mot15_root / "ETH-Sunnyday" / "seqinfo.ini")
    assert (info.name, info.length, info.frame_rate) == ("ETH-Sunnyday", 354, 14.0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[Other]\nseqLength=3\n", "no [Sequence] section"),
        ("[Sequence]\nseqLength=ten\n", "seqLength is not a number: 'ten'"),
        ("[Sequence]\nseqLength=2.5\n", "seqLength must be a whole number, got '2.5'"),
        ("[Sequence]\nframeRate=0\n", "frameRate must be positive, got '0'"),
        ("no section header\n", "not a valid ini file"),
    ],
)
def test_bad_seqinfo(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "seqinfo.ini"
    path.write_text(text)
    with pytest.raises(MotFormatError, match="^" + str(path).replace(".", r"\.")) as caught:
        read_seqinfo(path)
    assert reason in str(caught.value)
