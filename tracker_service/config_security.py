"""The security settings of the service and of its streams (mixed into `config.py`'s sections).

Kept apart so that the whole policy reads in one place: who may call the service (key,
sessions, hosts, origins), how big an input may be, and where a camera URL may point.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

# Cameras live on private LANs: these stay reachable by default. Loopback, link-local (cloud
# metadata at 169.254.169.254), multicast and the service's own address are refused unless a
# listed network names them explicitly (0.0.0.0/0 does not).
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
MIN_API_KEY_LENGTH = 16


class ServiceSecurityConfig(BaseModel):
    """Keys of `service`: authentication, trusted hosts and origins, input limits."""

    api_key: str | None = Field(
        None,
        description="require this key (X-API-Key or Bearer, or a session from POST "
        "/v1/session) on /v1; off when unset",
    )
    session_ttl_s: float = Field(
        12 * 3600.0, gt=0.0, le=7 * 24 * 3600.0, description="a console session lasts this long"
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header values answered (DNS rebinding defence); default: localhost "
        "names and the bind address; ['*'] turns the check off",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="browser origins (scheme://host[:port]) allowed besides the service's own "
        "to open WebSockets and send state-changing requests",
    )
    max_pixels: int = Field(
        40_000_000,
        ge=10_000,
        le=1_000_000_000,
        description="largest image or video frame (width x height), read from its header "
        "before anything is decoded",
    )

    @field_validator("api_key")
    @classmethod
    def _usable_key(cls, key: str | None) -> str | None:
        if key is None:
            return None
        if any(char.isspace() or not char.isprintable() for char in key):
            raise ValueError("the API key must not hold spaces or control characters")
        if len(key) < MIN_API_KEY_LENGTH:
            raise ValueError(f"the API key must have at least {MIN_API_KEY_LENGTH} characters")
        if len(set(key)) < 4:
            raise ValueError("the API key is too easy to guess (fewer than 4 distinct characters)")
        return key

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or "/" in rest:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return [origin.lower() for origin in origins]


class StreamPolicyConfig(BaseModel):
    """Keys of `streams`: where a camera added through the API may point."""

    allowed_networks: list[str] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        description="networks (CIDR) cameras may be on; loopback, link-local and multicast "
        "only when named explicitly; the service's own address and port never",
    )
    file_roots: list[Path] = Field(
        default_factory=list,
        description="folders whose video files the API may open as streams (empty: none); "
        "the data folder is never one of them",
    )

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a network (CIDR): {exc}") from None
        return networks
