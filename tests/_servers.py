"""Throwaway PostgreSQL and Redis servers for the test suite.

Each server lives in its own temporary directory, listens on a free port of
127.0.0.1 only, and is a child process of the test session, so that the
session can stop it, crash it (SIGKILL) and restart it on the same port, and
reap it: nothing is left behind when the session ends.

PostgreSQL refuses to run as root.  When the session runs as root, ``initdb``
and ``postgres`` run as an unprivileged system user instead (``postgres`` when
it exists, else :data:`FALLBACK_OS_USER`, created with ``useradd --system``),
through ``setpriv`` (or ``runuser``), and the temporary directory belongs to
that user.

The fixtures in ``tests/conftest.py`` wrap these classes; fault tests use the
server objects' methods (:meth:`PostgresServer.restart`,
:meth:`PostgresServer.kill`, :meth:`RedisServer.restart`, ...) directly.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import psycopg

LOOPBACK = "127.0.0.1"
"""The only address the test servers listen on."""

FALLBACK_OS_USER = "archipel-pg"
"""System user created to run PostgreSQL as, when running as root with no ``postgres`` user."""

TRUE_VALUES = frozenset({"1", "true", "yes", "on", "y", "t"})

POSTGRES_MISSING = (
    "PostgreSQL server binaries (initdb, postgres) not found on PATH nor under "
    "/usr/lib/postgresql/*/bin: install the Debian package 'postgresql' "
    "(scripts/test does so when run as root)"
)
REDIS_MISSING = (
    "redis-server not found on PATH: install the Debian package 'redis-server' "
    "(scripts/test does so when run as root)"
)

ShutdownMode = Literal["smart", "fast", "immediate"]

_SHUTDOWN_SIGNALS: dict[str, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}


class ServerUnavailable(RuntimeError):
    """The server's binaries are not installed: the caller may skip."""


class ServerStartError(RuntimeError):
    """The server is installed but could not be set up or started."""


# --------------------------------------------------------------------------- helpers


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` holds a true value (``1``, ``true``, ``yes``...)."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def to_libpq_url(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://...``) into a plain libpq one (``postgresql://...``)."""
    return re.sub(r"^postgresql\+[A-Za-z0-9_]+://", "postgresql://", url)


def _tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _child_env() -> dict[str, str]:
    """Environment for server processes: ours, with a locale that always exists."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _is_gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state in {"Z", "X"}


def _children(pid: int) -> list[int]:
    """Direct children of process ``pid`` (empty where ``/proc`` is not available)."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def _wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait until every process in ``pids`` has exited; whether they all did in time."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {pid for pid in pending if not _is_gone(pid)}
        if pending:
            time.sleep(0.02)
    return not pending


def _kill_quietly(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid``, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def unprivileged_user() -> str | None:
    """The OS user to run PostgreSQL as: ``None`` (ourselves) unless we are root.

    As root: ``postgres`` if that user exists, else :data:`FALLBACK_OS_USER`,
    created on the fly as a system user with no home and no login shell.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_OS_USER):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_OS_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerStartError(f"could not create user {FALLBACK_OS_USER}: {result.stderr.strip()}")
    return FALLBACK_OS_USER


def as_user(command: Sequence[str], user: str | None) -> list[str]:
    """``command`` run as ``user`` (unchanged when ``user`` is None).

    ``setpriv`` is preferred: it execs the command, so the child we spawn *is*
    the server process.  ``runuser -u USER --`` is the fallback.
    """
    if user is None:
        return list(command)
    entry = pwd.getpwnam(user)
    setpriv = shutil.which("setpriv") or _first_existing("/usr/bin/setpriv", "/bin/setpriv")
    if setpriv:
        return [
            setpriv,
            f"--reuid={entry.pw_uid}",
            f"--regid={entry.pw_gid}",
            "--init-groups",
            "--",
            *command,
        ]
    runuser = shutil.which("runuser") or _first_existing("/usr/sbin/runuser", "/sbin/runuser")
    if runuser:
        return [runuser, "-u", user, "--", *command]
    raise ServerStartError(f"neither setpriv nor runuser is available to run as {user}")


def _first_existing(*paths: str) -> str | None:
    """The first of ``paths`` that exists, if any."""
    return next((path for path in paths if Path(path).exists()), None)


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: newest version last."""
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None when PostgreSQL is not installed.

    ``$ARCHIPEL_PG_BINDIR``, when set, is the only place looked at (set it to
    a missing directory to simulate a machine without PostgreSQL).  Otherwise:
    ``initdb`` on PATH (symlinks resolved), then the newest
    ``/usr/lib/postgresql/*/bin`` (Debian's layout, which does not put the
    server binaries on PATH).
    """
    override = os.environ.get("ARCHIPEL_PG_BINDIR")
    if override is not None:
        candidates = [Path(override)]
    else:
        on_path = shutil.which("initdb")
        candidates = [Path(on_path).resolve().parent] if on_path else []
        candidates += sorted(
            Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True
        )
    for candidate in candidates:
        if all(os.access(candidate / name, os.X_OK) for name in ("initdb", "postgres")):
            return candidate
    return None


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, served on ``127.0.0.1:port``.

    Create one with :meth:`launch`.  Authentication is ``trust``; the
    superuser role is :attr:`superuser`; durability settings are PostgreSQL's
    defaults (``fsync`` and ``synchronous_commit`` on).  The unix socket lives
    in ``<basedir>/sock``, the server log in ``<basedir>/postgres.log``.
    """

    bindir: Path
    basedir: Path
    port: int
    os_user: str | None = None
    superuser: str = "postgres"
    dbname: str = "archipel_test"
    host: str = LOOPBACK
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.basedir / "data"

    @property
    def socket_dir(self) -> Path:
        """Directory of the server's unix socket."""
        return self.basedir / "sock"

    @property
    def logfile(self) -> Path:
        """The server's log (stdout and stderr of every run, appended)."""
        return self.basedir / "postgres.log"

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def launch(
        cls,
        bindir: Path | None = None,
        *,
        dbname: str = "archipel_test",
        settings: Mapping[str, str] | None = None,
        attempts: int = 3,
    ) -> PostgresServer:
        """Initialise a fresh cluster, start it on a free port and create database ``dbname``.

        ``settings`` are extra ``postgresql.conf`` lines (name -> value, the
        value written as given, so quote strings: ``{"wal_level": "logical"}``,
        ``{"log_statement": "'all'"}``).  The server is stopped and its
        directory removed at interpreter exit if :meth:`destroy` was not called.

        Raises:
            ServerUnavailable: PostgreSQL is not installed.
            ServerStartError: it is installed but did not come up.
        """
        bindir = bindir or find_postgres_bindir()
        if bindir is None:
            raise ServerUnavailable(POSTGRES_MISSING)
        user = unprivileged_user()
        basedir = Path(tempfile.mkdtemp(prefix="archipel-pg-"))
        server = cls(bindir=bindir, basedir=basedir, port=0, os_user=user, dbname=dbname)
        atexit.register(server.destroy)
        try:
            server._prepare_dirs()
            server._initdb(settings or {})
            for attempt in range(1, attempts + 1):
                server.port = free_port(server.host)
                try:
                    server.start()
                    break
                except ServerStartError:
                    if attempt == attempts:
                        raise
            server.create_database(dbname)
        except BaseException:
            server.destroy()
            raise
        return server

    def _prepare_dirs(self) -> None:
        """Create the socket directory and hand the tree to the server's OS user."""
        self.socket_dir.mkdir()
        self.logfile.touch()
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            for path in (self.basedir, self.socket_dir, self.logfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.basedir.chmod(0o700)

    def _initdb(self, settings: Mapping[str, str]) -> None:
        """Run ``initdb`` and write the listening and extra settings to ``postgresql.conf``."""
        command = [
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.datadir),
            "--username",
            self.superuser,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            # Only skips initdb's own final fsync of the new files (speed);
            # the server keeps fsync and synchronous_commit on.
            "--no-sync",
        ]
        result = subprocess.run(
            as_user(command, self.os_user),
            cwd=self.basedir,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerStartError(f"initdb failed ({result.returncode}):\n{result.stderr}")
        lines = [
            "",
            "# --- archipel test session ---",
            f"listen_addresses = '{self.host}'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "max_connections = 200",
            *(f"{name} = {value}" for name, value in settings.items()),
            "",
        ]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines))

    def _pidfile(self) -> list[str]:
        """Lines of ``postmaster.pid`` (empty when there is none)."""
        try:
            return (self.datadir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    @property
    def pid(self) -> int | None:
        """PID of the running postmaster, or None."""
        if not self.running:
            return None
        lines = self._pidfile()
        if lines and lines[0].strip().isdigit():
            return int(lines[0])
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process we started is still alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server on :attr:`port` and wait until it accepts connections.

        After :meth:`kill` or ``stop("immediate")`` this runs crash recovery.
        Does nothing if the server is already running.
        """
        if self.running:
            return
        stale = self._pidfile()
        stale_pid = stale[0].strip() if stale else None
        command = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        with self.logfile.open("ab") as log:
            self._proc = subprocess.Popen(
                as_user(command, self.os_user),
                cwd=self.basedir,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise ServerStartError(
                    f"postgres exited with {code} on port {self.port}:\n{_tail(self.logfile)}"
                )
            lines = self._pidfile()
            # Line 8 of postmaster.pid is the postmaster's status ("ready" once it accepts connections).
            if len(lines) >= 8 and lines[0].strip() != stale_pid and lines[7].strip() == "ready":
                return
            time.sleep(0.02)
        self.kill()
        raise ServerStartError(f"postgres not ready after {timeout}s:\n{_tail(self.logfile)}")

    def stop(self, mode: ShutdownMode = "fast", timeout: float = 60.0) -> None:
        """Shut the server down (``pg_ctl stop -m MODE`` semantics) and wait for it to exit.

        ``fast`` rolls back open transactions and checkpoints; ``smart`` waits
        for clients to disconnect; ``immediate`` exits without a checkpoint
        (crash recovery on the next start).  Escalates to :meth:`kill` after
        ``timeout`` seconds.
        """
        proc = self._proc
        if proc is None:
            return
        pid = self.pid
        if pid is not None:
            _kill_quietly(pid, _SHUTDOWN_SIGNALS[mode])
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._proc = None

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and all its processes, then wait for them.

        The data directory is left as a crash leaves it; :meth:`start` recovers.
        """
        proc = self._proc
        if proc is None:
            return
        pid = self.pid or proc.pid
        victims = [pid, *_children(pid)]
        for victim in victims:
            _kill_quietly(victim, signal.SIGKILL)
        _kill_quietly(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_gone(victims, timeout=10.0)
        self._proc = None

    def restart(self, mode: ShutdownMode = "fast", timeout: float = 60.0) -> None:
        """Stop the server (``mode``, see :meth:`stop`) and start it again on the same port."""
        self.stop(mode, timeout)
        self.start(timeout)

    def destroy(self) -> None:
        """Stop the server at once and delete its directory.  Safe to call twice."""
        atexit.unregister(self.destroy)
        try:
            self.stop("immediate", timeout=15.0)
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)

    # ------------------------------------------------------------------ access

    def url(self, dbname: str | None = None, *, driver: str = "psycopg") -> str:
        """SQLAlchemy URL of database ``dbname`` (default: the session's test database)."""
        return f"postgresql+{driver}://{self.superuser}@{self.host}:{self.port}/{dbname or self.dbname}"

    def libpq_url(self, dbname: str | None = None) -> str:
        """Plain libpq URL (``postgresql://...``) of database ``dbname``, for psycopg or psql."""
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{dbname or self.dbname}"

    def connect(
        self, dbname: str | None = None, *, autocommit: bool = True
    ) -> psycopg.Connection[Any]:
        """A new psycopg connection to ``dbname`` (autocommit by default); close it yourself."""
        import psycopg

        return psycopg.connect(self.libpq_url(dbname), autocommit=autocommit, connect_timeout=10)

    def process_ids(self) -> list[int]:
        """The postmaster's pid and its children's (the benchmarks pin them to CPUs)."""
        if self._proc is None:
            return []
        return [self._proc.pid, *_children(self._proc.pid)]

    def create_database(self, name: str | None = None, *, prefix: str = "t") -> str:
        """Create an empty database and return its name (``<prefix>_<random>`` unless given)."""
        from psycopg import sql

        if name is None:
            cleaned = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_") or "t"
            name = f"{cleaned[:40]}_{uuid.uuid4().hex[:12]}"
        with self.connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its clients first."""
        from psycopg import sql

        with self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --------------------------------------------------------------------------- Redis


def find_redis_server() -> Path | None:
    """Path of ``redis-server``, or None.

    ``$ARCHIPEL_REDIS_SERVER``, when set, is the only candidate; otherwise
    PATH, then /usr/bin and /usr/sbin.
    """
    override = os.environ.get("ARCHIPEL_REDIS_SERVER")
    if override is not None:
        return Path(override) if os.access(override, os.X_OK) else None
    candidates = [
        shutil.which("redis-server"),
        "/usr/bin/redis-server",
        "/usr/sbin/redis-server",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def redis_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers ``PING`` with ``PONG`` on ``host:port`` (raw RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A ``redis-server`` child process on ``127.0.0.1:port`` with its data directory in a temp dir.

    Create one with :meth:`launch`.  By default nothing is persisted
    (``save ""``, ``appendonly no``); pass ``config`` to change that, e.g.
    ``{"appendonly": "yes", "appendfsync": "always"}`` for durability tests.
    """

    DEFAULT_CONFIG: ClassVar[dict[str, str]] = {"save": "", "appendonly": "no"}

    executable: Path
    basedir: Path
    port: int
    config: dict[str, str] = field(default_factory=dict)
    host: str = LOOPBACK
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def logfile(self) -> Path:
        """The server's log (its stdout and stderr, appended over restarts)."""
        return self.basedir / "redis.log"

    @property
    def datadir(self) -> Path:
        """Redis' working directory (RDB and AOF files)."""
        return self.basedir / "data"

    @classmethod
    def launch(
        cls,
        executable: Path | None = None,
        *,
        config: Mapping[str, str] | None = None,
        attempts: int = 3,
    ) -> RedisServer:
        """Start a fresh ``redis-server`` on a free loopback port.

        ``config`` entries (directive -> value) override :attr:`DEFAULT_CONFIG`
        and are passed as ``--directive value``.  The server is killed and its
        directory removed at interpreter exit if :meth:`destroy` was not called.

        Raises:
            ServerUnavailable: redis-server is not installed.
            ServerStartError: it is installed but did not come up.
        """
        executable = executable or find_redis_server()
        if executable is None:
            raise ServerUnavailable(REDIS_MISSING)
        basedir = Path(tempfile.mkdtemp(prefix="archipel-redis-"))
        server = cls(
            executable=executable,
            basedir=basedir,
            port=0,
            config={**cls.DEFAULT_CONFIG, **(config or {})},
        )
        atexit.register(server.destroy)
        try:
            server.datadir.mkdir()
            for attempt in range(1, attempts + 1):
                server.port = free_port(server.host)
                try:
                    server.start()
                    break
                except ServerStartError:
                    if attempt == attempts:
                        raise
        except BaseException:
            server.destroy()
            raise
        return server

    def command(self) -> list[str]:
        """The ``redis-server`` command line for the current port and config."""
        command = [
            str(self.executable),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.datadir),
            "--daemonize",
            "no",
        ]
        for name, value in self.config.items():
            command += [f"--{name}", value]
        return command

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the running server, or None."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self, timeout: float = 15.0) -> None:
        """Start the server on :attr:`port` and wait until it answers ``PING`` (no-op if running)."""
        if self.running:
            return
        with self.logfile.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=self.basedir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise ServerStartError(
                    f"redis-server exited with {code} on port {self.port}:\n{_tail(self.logfile)}"
                )
            if redis_ping(self.host, self.port, timeout=0.5):
                return
            time.sleep(0.02)
        self.kill()
        raise ServerStartError(f"redis-server not ready after {timeout}s:\n{_tail(self.logfile)}")

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful shutdown (SIGTERM: Redis persists per its config, then exits); kill after ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        _kill_quietly(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._proc = None

    def kill(self) -> None:
        """Crash the server (SIGKILL) and reap it; nothing is persisted beyond what already was."""
        proc = self._proc
        if proc is None:
            return
        _kill_quietly(proc.pid, signal.SIGKILL)
        proc.wait()
        self._proc = None

    def restart(self, *, graceful: bool = False, timeout: float = 15.0) -> None:
        """Kill (or, with ``graceful``, stop) the server and start it again on the same port."""
        if graceful:
            self.stop(timeout)
        else:
            self.kill()
        self.start(timeout)

    def destroy(self) -> None:
        """Kill the server and delete its directory.  Safe to call twice."""
        atexit.unregister(self.destroy)
        try:
            self.kill()
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:PORT/DB``."""
        return f"redis://{self.host}:{self.port}/{db}"

    def flushall(self) -> None:
        """Empty every database of the server (raw ``FLUSHALL``, no client library needed)."""
        with socket.create_connection((self.host, self.port), timeout=5.0) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")


# --------------------------------------------------------------------------- Redis Cluster


def _redis_call(host: str, port: int, *args: str, timeout: float = 5.0) -> str:
    """Send one command (RESP array) and return the raw reply text (enough for status/bulk replies)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload.encode())
        chunks = b""
        while True:
            chunk = sock.recv(65536)
            chunks += chunk
            if not chunk or _complete_reply(chunks):
                break
    return chunks.decode(errors="replace")


def _complete_reply(data: bytes) -> bool:
    """Whether ``data`` holds one whole simple, error, integer or bulk-string reply."""
    if data[:1] in (b"+", b"-", b":"):
        return data.endswith(b"\r\n")
    if data[:1] == b"$":
        head, _, rest = data.partition(b"\r\n")
        length = int(head[1:])
        return length < 0 or len(rest) >= length + 2
    return data.endswith(b"\r\n")


@dataclass
class RedisClusterServers:
    """A Redis Cluster of ``masters`` masters, each with ``replicas`` replicas, on loopback.

    Every node is a :class:`RedisServer` (``cluster-enabled yes``, its own
    bus port, ``cluster-node-timeout`` 1 s so that failovers are quick).
    The cluster is created with ``redis-cli --cluster create``, which spreads
    the 16384 slots evenly over the masters.  Fault tests use
    :meth:`failover` (a replica takes over its master without losing
    writes: ``CLUSTER FAILOVER``) and the nodes' own ``kill()``/``start()``.
    """

    nodes: list[RedisServer]
    masters: int
    replicas: int

    @classmethod
    def launch(cls, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> RedisClusterServers:
        """Start ``masters * (1 + replicas)`` nodes and join them into one cluster.

        Raises:
            ServerUnavailable: redis-server or redis-cli is not installed.
            ServerStartError: the cluster did not form.
        """
        executable = find_redis_server()
        cli = shutil.which("redis-cli")
        if executable is None or cli is None:
            raise ServerUnavailable(REDIS_MISSING)
        nodes: list[RedisServer] = []
        made = cls(nodes=nodes, masters=masters, replicas=replicas)
        atexit.register(made.destroy)
        try:
            for _ in range(masters * (1 + replicas)):
                nodes.append(
                    RedisServer.launch(
                        executable,
                        config={
                            "cluster-enabled": "yes",
                            "cluster-config-file": "nodes.conf",
                            "cluster-port": str(free_port()),
                            "cluster-node-timeout": str(node_timeout_ms),
                            "cluster-replica-validity-factor": "0",
                        },
                    )
                )
            result = subprocess.run(
                [cli, "--cluster", "create", *(f"{n.host}:{n.port}" for n in nodes),
                 "--cluster-replicas", str(replicas), "--cluster-yes"],
                capture_output=True, text=True, check=False, timeout=60,
            )
            if result.returncode != 0:
                raise ServerStartError(f"redis-cli --cluster create failed:\n{result.stdout}\n{result.stderr}")
            made.wait_ok()
        except BaseException:
            made.destroy()
            raise
        return made

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every running node reports ``cluster_state:ok`` and every master has its replicas."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if all("cluster_state:ok" in _redis_call(n.host, n.port, "CLUSTER", "INFO")
                       for n in self.nodes if n.running) and self._replicated():
                    return
            time.sleep(0.05)
        raise ServerStartError(f"Redis Cluster not ok after {timeout}s")

    def _replicated(self) -> bool:
        masters = self.master_nodes()
        if len(masters) != self.masters:
            return False
        for node in self.nodes:
            if node.running and node not in masters:
                info = _redis_call(node.host, node.port, "INFO", "replication")
                if "master_link_status:up" not in info:
                    return False
        return True

    def role(self, node: RedisServer) -> str:
        """``master`` or ``slave`` (Redis' word) as the node sees itself; ``unknown`` while it
        drops its clients (a master turning replica closes their connections)."""
        try:
            info = _redis_call(node.host, node.port, "INFO", "replication")
        except (ConnectionResetError, BrokenPipeError):
            return "unknown"
        found = re.search(r"role:(\w+)", info)
        return found.group(1) if found else "unknown"

    def master_nodes(self) -> list[RedisServer]:
        """The running nodes that are masters right now."""
        return [n for n in self.nodes if n.running and self.role(n) == "master"]

    def replica_of(self, master: RedisServer) -> RedisServer:
        """A running replica of ``master``."""
        for node in self.nodes:
            if node.running and node is not master:
                info = _redis_call(node.host, node.port, "INFO", "replication")
                if f"master_port:{master.port}\r\n" in info and "role:slave" in info:
                    return node
        raise LookupError(f"no replica of {master.host}:{master.port}")

    def failover(self, master: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Promote a replica of ``master`` (``CLUSTER FAILOVER``: no write is lost); return it."""
        replica = self.replica_of(master)
        reply = _redis_call(replica.host, replica.port, "CLUSTER", "FAILOVER")
        if not reply.startswith("+OK"):
            raise ServerStartError(f"CLUSTER FAILOVER refused: {reply}")
        deadline = time.monotonic() + timeout
        while self.role(replica) != "master" or self.role(master) != "slave":
            if time.monotonic() > deadline:
                raise ServerStartError("failover did not complete")
            time.sleep(0.05)
        self.wait_ok(timeout)
        return replica

    def crash(self, master: RedisServer, timeout: float = 30.0) -> RedisServer:
        """``kill -9`` ``master``, wait until the cluster has promoted its replica, start it again.

        The old master comes back as a replica of the promoted one (its
        ``nodes.conf`` survives; its data, not persisted, is synced anew).
        Returns the promoted replica.
        """
        replica = self.replica_of(master)
        master.kill()
        deadline = time.monotonic() + timeout
        while self.role(replica) != "master":
            if time.monotonic() > deadline:
                raise ServerStartError("no replica was promoted")
            time.sleep(0.05)
        master.start()
        self.wait_ok(timeout)
        return replica

    def url(self) -> str:
        """``redis://`` URL of one running node (the client discovers the rest)."""
        node = next(n for n in self.nodes if n.running)
        return node.url()

    def flushall(self) -> None:
        """Empty every master (replicas follow)."""
        for node in self.master_nodes():
            node.flushall()

    def destroy(self) -> None:
        """Kill every node and delete their directories.  Safe to call twice."""
        atexit.unregister(self.destroy)
        for node in self.nodes:
            node.destroy()
