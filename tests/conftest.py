"""Database fixtures for every layer: a SQLite file and a throwaway PostgreSQL server.

Helpers live in tests/support/; each layer's conftest.py registers that layer's fixtures
(tests/integration: the `world` and `services` worlds; tests/e2e: `dudao`).

The PostgreSQL server is started from Debian's packages (apt-get install postgresql) in a
temporary data directory on 127.0.0.1 and stopped at the end of the session. Set
DUDAO_TEST_PG_URL to use an existing server instead. Outside CI, missing PostgreSQL
binaries skip the PostgreSQL half; in CI (CI=true) they fail the run.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.migrate import upgrade

_counter = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PgServer:
    """A PostgreSQL cluster in a temporary directory, owned by the `postgres` OS user."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dudao-pg-"))
        self.data = self.dir / "data"
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_root:  # initdb and postgres refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port}"
                f" -c unix_socket_directories={self.dir} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                  "-l", str(self.dir / "log"), "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def _pg_execute(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("postgresql://", "postgresql://", 1),
                         autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Admin URL of a running PostgreSQL server (started here unless given)."""
    given = os.environ.get("DUDAO_TEST_PG_URL")
    if given:
        yield given
        return
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs it with apt-get")
        pytest.skip("PostgreSQL not installed (apt-get install postgresql)")
    server = PgServer(bindir)
    server.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            _pg_execute(server.admin_url, "SELECT 1")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    """A migrated template database; each test clones it."""
    _pg_execute(pg_admin_url, "DROP DATABASE IF EXISTS dudao_template")
    _pg_execute(pg_admin_url, "CREATE DATABASE dudao_template")
    url = pg_admin_url.rsplit("/", 1)[0] + "/dudao_template"
    upgrade(url)
    return "dudao_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "dudao.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    admin: str = request.getfixturevalue("pg_admin_url")
    template_name: str = request.getfixturevalue("pg_template")
    name = f"t_{os.getpid()}_{next(_counter)}"
    _pg_execute(admin, f"CREATE DATABASE {name} TEMPLATE {template_name}")
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _pg_execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[object]:
    from storage.db import create_async_db_engine

    eng = create_async_db_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()
