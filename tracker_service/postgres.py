"""Connections to the shared PostgreSQL database (jobs queue, gallery), through a pool.

The pool reconnects by itself: a connection broken by a database restart is checked and
replaced before it is handed out, so a node rides out a restart without a restart of its own.
Error messages never carry the URL (it may hold a password).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10.0


class DatabaseUnavailableError(RuntimeError):
    """The shared database cannot be reached; the message says why (without the URL)."""


def open_pool(
    url: str,
    name: str,
    max_size: int = 8,
    configure: Callable[[psycopg.Connection[TupleRow]], None] | None = None,
) -> ConnectionPool:
    """A pool of connections to `url`; fails now, saying why, when it cannot connect."""
    check_reachable(url, name)
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        name=name,
        open=False,
        timeout=POOL_TIMEOUT_S,
        check=ConnectionPool.check_connection,
        configure=configure,
        kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "autocommit": False},
    )
    try:
        pool.open(wait=True, timeout=POOL_TIMEOUT_S)
    except Exception as exc:
        pool.close()
        raise DatabaseUnavailableError(
            f"the {name} database cannot be reached: {type(exc).__name__}"
        ) from None
    return pool


def check_reachable(url: str, name: str) -> None:
    """Connect once; `DatabaseUnavailableError` with psycopg's reason (host and port, never
    the password) when that fails."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S):
            pass
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatabaseUnavailableError(f"the {name} database cannot be reached: {reason}") from None
