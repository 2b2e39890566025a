"""Engine creation for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession


def _urls(url: str) -> tuple[URL, URL]:
    """The async and sync driver URLs for a configured database URL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite"), parsed.set(drivername="sqlite")
    if backend == "postgresql":
        psycopg = parsed.set(drivername="postgresql+psycopg")
        return psycopg, psycopg
    raise ValueError(f"unsupported database backend: {backend}")


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite database file so a fresh checkout just works."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level so the "begin" hook below decides how to begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # SQLite cannot upgrade a read lock to a write lock under contention without failing;
    # writers take the write lock up front (a queue, via busy_timeout). Read-only units of
    # work ask for DEFERRED and never block anyone under WAL.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


def _configure_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin_immediate)


def create_async_db_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine with dudao's SQLite pragmas or PostgreSQL pool settings."""
    async_url, _ = _urls(url)
    if async_url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        engine = create_async_engine(async_url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine.sync_engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(async_url, **kwargs)


def create_sync_db_engine(url: str, **kwargs: Any) -> Engine:
    """A sync engine (Alembic, bulk benchmark loading) with the same SQLite settings."""
    _, sync_url = _urls(url)
    if sync_url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(url)
        engine = create_engine(sync_url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(sync_url, **kwargs)


def session_factory(engine: AsyncEngine, *,
                    readonly: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work; read-only ones begin DEFERRED on SQLite."""
    bind = engine.execution_options(sqlite_begin="DEFERRED") if readonly else engine
    return async_sessionmaker(bind, expire_on_commit=False)


def safe_url(url: str) -> str:
    """The database URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
