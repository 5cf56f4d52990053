"""Counts of a stream or video: per line in/out, per zone visits, dwell and occupancy."""

from __future__ import annotations

from typing import Any

from tracker_service.zones import ZoneCounter


def counts_of(counter: ZoneCounter) -> dict[str, Any]:
    """What `counts.json` holds (and `GET /v1/streams/{id}/counts` answers)."""
    lines = {
        name: {"in": tally.crossed_in, "out": tally.crossed_out}
        for name, tally in counter.line_tallies.items()
    }
    zones: dict[str, Any] = {}
    for name, tally in counter.zone_tallies.items():
        zones[name] = {
            "visits": tally.visits,
            "mean_dwell_s": round(tally.dwell_total_s / tally.visits, 3) if tally.visits else 0.0,
            "max_dwell_s": round(tally.dwell_max_s, 3),
            "occupancy": tally.occupancy,
            "peak_occupancy": tally.peak_occupancy,
            "dwell_by_identity": {
                str(identity): [round(d, 3) for d in dwells]
                for identity, dwells in sorted(tally.dwell_by_identity.items())
            },
            "occupancy_timeline": [[round(t, 3), n] for t, n in tally.occupancy_history],
        }
    return {"lines": lines, "zones": zones}
