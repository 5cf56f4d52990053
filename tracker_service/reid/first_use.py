"""The default embedder on first use: the torchreid weights exported once to ONNX.

Only the torchreid state dict has a public download; the service runs re-ID on ONNX Runtime
(several times faster than eager PyTorch on a CPU, any batch size). So the first run
exports the downloaded weights with the project's own verified exporter and keeps the
`.onnx` and its model card (which records the file's SHA-256 and the source weights') in
the models dir; later runs check the file against that card and load it at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tracker_service.model_manifest import ModelEntry

logger = logging.getLogger(__name__)
VERIFY_CROPS = 8


def export_on_first_use(entry: ModelEntry, source: Path, target: Path) -> Path:
    """Export `source` (the weights `entry` names in `export_from`) to `target`, verified.

    Returns `target`, or `source` itself (for the PyTorch backend) when the export fails.
    """
    from tracker_service.reid.training.checkpoint import load_inference_model
    from tracker_service.reid.training.export import ExportError, export_onnx, random_crops

    logger.info(
        "first use of %s: exporting %s to ONNX once (about a minute on 2 CPU cores)",
        entry.name,
        source.name,
    )
    try:
        export_onnx(
            load_inference_model(source),
            target,
            random_crops(VERIFY_CROPS),
            crops_source="random pixels (first-use export)",
        )
    except ExportError as exc:
        # The weights themselves are fine (checksum-verified): run them on PyTorch instead.
        logger.warning("ONNX export failed (%s); running %s on PyTorch", exc, source.name)
        return source
    return target
