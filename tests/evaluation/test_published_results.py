"""Published figures: py-motmetrics' results for two MOT15 sequences, scored by our `eval`.

py-motmetrics 1.4.0's `test_motchallenge_files` publishes, for its bundled tracker results on
TUD-Campus and TUD-Stadtmitte (MOT15 ground truth), IDF1, IDP, IDR, recall, precision, MT,
PT, ML, FP, FN, ID switches, fragmentations, MOTA and MOTP (as a distance, 1 - IoU) to six
decimals, and its TrackEval parity test shows that TrackEval reproduces them. See
`data/py_motmetrics/README.md` for the provenance of the result files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker_service.evaluation import EvaluationReport, TrackingMetrics, evaluate_folders

RESULTS_DIR = Path(__file__).parent / "data" / "py_motmetrics"
PUBLISHED_ROUNDING = 1e-6  # the published rates have six decimals

# idf1, idp, idr, recall, precision, gt ids, MT, PT, ML, FP, FN, IDSW, Frag, MOTA, MOTP dist.
PUBLISHED = {
    "TUD-Campus": (
        0.557659, 0.729730, 0.451253, 0.582173, 0.941441, 8, 1, 6, 1, 13, 150, 7, 7,
        0.526462, 0.277201,
    ),
    "TUD-Stadtmitte": (
        0.644619, 0.819760, 0.531142, 0.608997, 0.939920, 10, 5, 4, 1, 45, 452, 7, 6,
        0.564014, 0.345904,
    ),
    "COMBINED": (
        0.624296, 0.799176, 0.512211, 0.602640, 0.940268, 18, 6, 10, 2, 58, 602, 14, 13,
        0.555116, 0.330177,
    ),
}  # fmt: skip

# Not published anywhere: TrackEval 1.3.0's own HOTA/DetA/AssA for the same input, kept as a
# regression check (the parity test above found py-motmetrics' HOTA equal to within 1e-6).
TRACKEVAL_HOTA = {
    "TUD-Campus": (0.3913974378451139, 0.418047030142763, 0.36912068120832836),
    "TUD-Stadtmitte": (0.3978490169927877, 0.3922675723693166, 0.4088407518112996),
    "COMBINED": (0.3999570912884786, 0.3976832912424188, 0.4124495298453543),
}


@pytest.fixture(scope="module")
def report(mot15_root: Path) -> EvaluationReport:
    return evaluate_folders(mot15_root, RESULTS_DIR, missing="skip")


def _metrics(report: EvaluationReport, name: str) -> TrackingMetrics:
    if name == "COMBINED":
        return report.combined
    return next(sequence.metrics for sequence in report.sequences if sequence.name == name)


def test_only_the_sequences_with_results_are_scored(report: EvaluationReport) -> None:
    assert [sequence.name for sequence in report.sequences] == ["TUD-Campus", "TUD-Stadtmitte"]
    assert set(report.skipped) == {"ADL-Rundle-6", "ETH-Sunnyday", "KITTI-17", "PETS09-S2L1"}
    assert {sequence.benchmark.value for sequence in report.sequences} == {"MOT15"}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_clear_and_identity_metrics_match_published_values(
    report: EvaluationReport, name: str
) -> None:
    m = _metrics(report, name)
    idf1, idp, idr, recall, precision, gt_ids, mt, pt, ml, fp, fn, idsw, frag, mota, motp = (
        PUBLISHED[name]
    )
    rates = (m.idf1, m.idp, m.idr, m.recall, m.precision, m.mota, 1.0 - m.motp)
    assert rates == pytest.approx(
        (idf1, idp, idr, recall, precision, mota, motp), abs=PUBLISHED_ROUNDING
    )
    counts = (m.gt_ids, m.mostly_tracked, m.partially_tracked, m.mostly_lost)
    assert counts == (gt_ids, mt, pt, ml)
    assert (m.false_positives, m.false_negatives, m.id_switches, m.fragmentations) == (
        fp,
        fn,
        idsw,
        frag,
    )


@pytest.mark.parametrize("name", list(TRACKEVAL_HOTA))
def test_hota_regression(report: EvaluationReport, name: str) -> None:
    m = _metrics(report, name)
    assert (m.hota, m.deta, m.assa) == pytest.approx(TRACKEVAL_HOTA[name], abs=1e-12)
