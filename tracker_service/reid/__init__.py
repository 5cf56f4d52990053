"""Person re-identification: embedders, the per-track gate and cache, the identity gallery."""
