"""Person re-identification: embedders and the identity gallery shared by all streams.

The per-track gate and cache are stages of a stream: `tracker_service.pipeline`.
"""
