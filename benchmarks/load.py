"""How many requests a second one gunicorn worker serves, against bare Flask doing the same work.

    make bench                                   # or: .venv/bin/python benchmarks/load.py
    .venv/bin/python benchmarks/load.py [--rounds 3] [--seconds 10] [--rss-requests 100000]
    .venv/bin/python benchmarks/load.py --quick  # a smoke run: 1 round of 2 s, a short RSS check

In a temporary folder it migrates a fresh SQLite database and starts the service under gunicorn
(1 sync worker, ``gunicorn.conf.py``, its JSON request log on, into a file there), registers two
accounts (one to read, one to log in), and starts the reference (``benchmarks/reference_app.py``:
bare Flask, PyJWT, ``sqlite3``, argon2-cffi) under gunicorn the same way on its own SQLite file
holding the same users, password hashes and session. Both servers are pinned to core 0 with
``taskset``; the load generator (``wrk -t1 -c8``, Debian package ``wrk``) runs on core 1. Only
one server is under load at a time: each round drives every operation on the service and on the
reference, cut into ``--slices`` slices (5 by default: 2 s each) in which the two servers take
turns, the order alternating from round to round; a round's figure for a server adds up its
slices. On a shared machine the speed it gets drifts over seconds; taking turns slice by slice
puts both servers through the same drift, so the ratio measures them, not the moment.

Every answer is checked. Before timing, each operation is sent once to each server and its data
compared with what it must be; while timing, ``benchmarks/wrk/checked.lua`` counts answers that
are not 200, hold ``errors`` or lack the expected values (the user's name and email, the
token's ``jti``...). A run with any bad answer, or any failed connection, scores 0 req/s and is
flagged. The tables show req/s, p50 and p99 per run, the ratio service/reference, its range
across rounds and whether it meets the issue's target. A last table gives the same runs per core
as the worker's own CPU time counts them (requests per CPU-second it used, read from
``/proc/<pid>/stat``): on a shared machine, where the core is sometimes given to another tenant
mid-run, the wall-clock rate of one side drops and its ratio with it; the CPU-time rate does not.
Last, the service's worker serves ``--rss-requests`` whoami requests; its resident memory after
a warm-up (a tenth of them) and at the end must not grow by more than ``--rss-tolerance``.

Without wrk it says how to install it and falls back to a small Python load generator (threads
with keep-alive ``http.client`` connections), which is much slower than wrk: its figures only
compare the two servers with each other.
"""

import argparse
import dataclasses
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))  # reference_app, run from anywhere

from reference_app import init_database  # noqa: E402

VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
WRK_SCRIPT = BENCH_DIR / "wrk" / "checked.lua"
CONNECTIONS = 8
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
SERVER_CORE, LOAD_CORE = "0", "1"
READY_TIMEOUT = 30.0
PASSWORD = "benchmark passphrase 4711 for the load test"
CREATE_USER = "mutation Register($input: CreateUserInput!) { createUser(input: $input) { token payload } }"
# Settings that would change the work measured; the service's defaults are what is measured.
UNSET = (
    "ARGON2_TIME_COST",
    "ARGON2_MEMORY_COST",
    "ARGON2_PARALLELISM",
    "WEB_CONCURRENCY",
    "GUNICORN_ACCESS_LOG",
    "BIND",
    "PORT",
    "SESSION_MAX_PER_USER",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
)


@dataclass(frozen=True)
class Account:
    """A registered user: its fields as whoami answers them, and its first access token."""

    id: str
    username: str
    email: str
    token: str

    @property
    def fields(self) -> dict[str, str]:
        return {"id": self.id, "username": self.username, "email": self.email}


@dataclass(frozen=True)
class Operation:
    """One GraphQL request, sent unchanged to both servers, and how to tell a good answer."""

    name: str
    body: dict[str, Any]
    authorization: str | None
    # The answer's data must satisfy this (the check before timing)...
    check: Callable[[dict[str, Any]], bool]
    # ... and while timing, the answer must contain each of these.
    expect: list[str]
    target: float
    # Runs of this operation last this share of --seconds, and at least ``min_seconds``
    # (logins are slow, and each adds a session).
    time_share: float = 1.0
    min_seconds: float = 0.0

    def seconds(self, seconds: float) -> float:
        return max(self.min_seconds, seconds * self.time_share)

    def payload(self) -> bytes:
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Run:
    """One timed run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int
    socket_errors: int
    first_bad: str = ""
    # CPU time the server's worker used for the run (user + system), once measured.
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.bad == 0 and self.socket_errors == 0

    @property
    def rate(self) -> float:
        """Requests a second; 0 when any answer was wrong or lost."""
        return self.requests / self.seconds if self.ok and self.seconds > 0 else 0.0

    @property
    def cpu_rate(self) -> float:
        """Requests per second of the worker's own CPU time: what one core does when it gets the whole
        core. Unlike ``rate`` it does not drop when another tenant of the machine takes the core away."""
        return self.requests / self.cpu_seconds if self.ok and self.cpu_seconds > 0 else 0.0


@dataclass
class Server:
    """A gunicorn master we started, and where it listens."""

    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def worker_pid(self) -> int:
        """The one worker: the master's child."""
        children = _children(self.process.pid)
        if len(children) != 1:
            raise RuntimeError(f"{self.name}: expected one gunicorn worker, found {children}")
        return children[0]


# --- the machine ---------------------------------------------------------------------------


def machine_line() -> str:
    """CPU model, cores, kernel and Python: where the figures were measured."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{model}, {cores} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def pinning_available() -> bool:
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pinned(core: str, command: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", core, *command] if pin else command


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if path.exists():
        return [int(child) for child in path.read_text().split()]
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_ticks(pid: int) -> int:
    """User + system CPU time the process has used so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_until_idle(server: "Server", limit: float = 60.0) -> None:
    """Wait until the worker stops using CPU: requests a finished run left queued (8 abandoned
    logins take seconds) must not run on core 0 while the next run is timed."""
    worker = server.worker_pid()
    deadline = time.monotonic() + limit
    previous = cpu_ticks(worker)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = cpu_ticks(worker)
        if current - previous <= 1:
            return
        previous = current


def rss_kib(pid: int) -> int:
    """The process's resident set size (VmRSS), in KiB."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return int(match.group(1))


# --- the servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def post(url: str, body: dict[str, Any], authorization: str | None = None) -> tuple[int, dict[str, Any]]:
    """One JSON POST on a new connection: the status and the decoded answer."""
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"raw": text.decode(errors="replace")[:500]}


@contextmanager
def gunicorn(
    name: str, app: str, folder: Path, env: dict[str, str], cwd: Path, pin: bool, extra: list[str]
) -> Iterator[Server]:
    """Start ``app`` under gunicorn with one sync worker (on core 0 when pinning); stop it after."""
    port = free_port()
    log = folder / f"{name}.log"
    command = [
        str(VENV_BIN / "gunicorn"), *extra,
        "--workers", "1", "--worker-class", "sync", "--no-control-socket", "--bind", f"{HOST}:{port}", app,
    ]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            pinned(SERVER_CORE, command, pin), cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://{HOST}:{port}/graphql", process, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if (
                    post(server.url, {"query": "query Typename { __typename }", "operationName": "Typename"})[
                        0
                    ]
                    == 200
                ):
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not answer within {READY_TIMEOUT} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.1)
        yield server
    except Exception:
        lines = log.read_text(errors="replace").splitlines()
        print(f"--- the last lines of {name}'s log ---", *lines[-30:], sep="\n", file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def service_environment(folder: Path, secret_key: str) -> dict[str, str]:
    """A fresh database and folders under ``folder``; registration limits out of the way."""
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    env.update(
        SECRET_KEY=secret_key,
        DATABASE_URL=f"sqlite:///{folder / 'service.sqlite3'}",
        INSTANCE_PATH=str(folder / "instance"),
        UPLOAD_FOLDER=str(folder / "uploads"),
        REGISTRATION_MAX_PER_IP="1000",
        REGISTRATION_ATTEMPTS_PER_IP="1000",
    )
    return env


def migrate(env: dict[str, str]) -> None:
    """``flask --app wsgi db upgrade``, as a release does."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{result.stdout}\n{result.stderr}")


def register(server: Server, username: str) -> Account:
    """createUser over HTTP; the account and its access token."""
    email = f"{username}@example.com"
    variables = {"input": {"username": username, "email": email, "password": PASSWORD}}
    status, answer = post(server.url, {"query": CREATE_USER, "variables": variables})
    if status != 200 or "errors" in answer:
        raise RuntimeError(f"createUser failed ({status}): {answer}")
    created = answer["data"]["createUser"]
    return Account(created["payload"]["sub"], username, email, created["token"])


def build_reference_database(path: Path, service_database: Path, reader: Account, login: Account) -> None:
    """The reference's SQLite file: the same two users (ids, password hashes) and the reader's session."""
    connection = sqlite3.connect(service_database)
    try:
        users = connection.execute(
            "SELECT id, username, email, password_hash FROM users WHERE id IN (?, ?) ORDER BY id",
            (int(reader.id), int(login.id)),
        ).fetchall()
    finally:
        connection.close()
    claims = jwt.decode(reader.token, options={"verify_signature": False})
    init_database(str(path), users, [(claims["sid"], int(claims["sub"]), claims["skey"], claims["origIat"])])


# --- the operations ------------------------------------------------------------------------


def operations(reader: Account, login: Account, secret_key: str) -> list[Operation]:
    """The five operations of issue 9, with the issue's target ratios."""
    header = f"JWT {reader.token}"
    reader_claims = jwt.decode(reader.token, options={"verify_signature": False})

    def login_ok(data: dict[str, Any]) -> bool:
        answer = data.get("tokenAuth") or {}
        try:
            claims = jwt.decode(answer.get("token", ""), secret_key, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return False
        return (
            claims == answer.get("payload")
            and claims["username"] == login.username
            and claims["sub"] == login.id
            and isinstance(answer.get("refreshToken"), str)
            and len(answer["refreshToken"]) >= 32
        )

    return [
        Operation(
            "{ __typename }",
            {"query": "query Typename { __typename }", "operationName": "Typename"},
            None,
            lambda data: data == {"__typename": "Query"},
            ["Query"],
            0.7,
        ),
        Operation(
            "whoami",
            {"query": "query Whoami { whoami { id username email } }", "operationName": "Whoami"},
            header,
            lambda data: data == {"whoami": reader.fields},
            [reader.username, reader.email],
            0.6,
        ),
        Operation(
            "verifyToken",
            {
                "query": "mutation Verify($token: String!) { verifyToken(token: $token) { payload } }",
                "operationName": "Verify",
                "variables": {"token": reader.token},
            },
            None,
            lambda data: data == {"verifyToken": {"payload": reader_claims}},
            [reader_claims["jti"], reader_claims["skey"]],
            0.6,
        ),
        Operation(
            "user(id)",
            {
                "query": "query User($id: ID!) { user(id: $id) { id username email } }",
                "operationName": "User",
                "variables": {"id": reader.id},
            },
            header,
            lambda data: data == {"user": reader.fields},
            [reader.username, reader.email],
            0.6,
        ),
        Operation(
            "tokenAuth",
            {
                "query": "mutation Login($username: String!, $password: String!) "
                "{ tokenAuth(username: $username, password: $password) { token refreshToken payload } }",
                "operationName": "Login",
                "variables": {"username": login.username, "password": PASSWORD},
            },
            None,
            login_ok,
            [login.username, "refreshToken", "skey"],
            0.9,
            # At about 5 logins a second, a run needs 10 s for its rate to mean something.
            min_seconds=10,
        ),
    ]


def check_once(server: Server, operation: Operation) -> None:
    """Send ``operation`` once; stop the benchmark if the answer is not exactly right."""
    status, answer = post(server.url, operation.body, operation.authorization)
    if status != 200 or "errors" in answer or not operation.check(answer.get("data") or {}):
        raise RuntimeError(f"{server.name} answers {operation.name} wrongly ({status}): {answer}")


# --- load generators -----------------------------------------------------------------------


def wrk_run(url: str, operation: Operation, folder: Path, pin: bool, seconds: float) -> Run:
    """``wrk -t1 -c8`` for ``seconds``, every answer checked."""
    body_file, expect_file = folder / "body.json", folder / "expect.txt"
    body_file.write_bytes(operation.payload())
    expect_file.write_text("\n".join(operation.expect) + "\n")
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_EXPECT_FILE": str(expect_file),
        "BENCH_AUTHORIZATION": operation.authorization or "",
    }
    command = [
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
        "--latency", "-s", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    result = subprocess.run(
        pinned(LOAD_CORE, command, pin), env=env, capture_output=True, text=True, timeout=seconds + 120
    )
    match = re.search(
        r"^BENCH requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) bad=(\d+) answers=\d+ "
        r"socket_errors=(\d+)$",
        result.stdout,
        re.MULTILINE,
    )
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    requests, duration, p50, p99, bad, socket_errors = (int(value) for value in match.groups())
    first_bad = re.search(r"^BENCH_FIRST_BAD (.*)$", result.stdout, re.MULTILINE)
    return Run(
        requests,
        duration / 1e6,
        p50 / 1e3,
        p99 / 1e3,
        bad,
        socket_errors,
        first_bad.group(1) if first_bad else "",
    )


def python_run(url: str, operation: Operation, folder: Path, pin: bool, seconds: float) -> Run:
    """The fallback without wrk: 8 threads, each a keep-alive ``http.client`` connection."""
    target = url.removeprefix("http://")
    host, _, rest = target.partition(":")
    port, path = int(rest.split("/", 1)[0]), "/" + rest.split("/", 1)[1]
    headers = {"Content-Type": "application/json"}
    if operation.authorization:
        headers["Authorization"] = operation.authorization
    body, expect = operation.payload(), [text.encode() for text in operation.expect]
    latencies: list[float] = []
    counts = {"bad": 0, "errors": 0}
    first_bad: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        mine: list[float] = []
        bad = errors = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                continue
            mine.append(time.perf_counter() - started)
            if response.status != 200 or b'"errors"' in answer or not all(text in answer for text in expect):
                bad += 1
                if not first_bad:
                    first_bad.append(f"{response.status} {answer[:300]!r}")
            if len(mine) >= 100:
                with lock:
                    latencies.extend(mine)
                mine = []
        connection.close()
        with lock:
            latencies.extend(mine)
            counts["bad"] += bad
            counts["errors"] += errors

    previous = os.sched_getaffinity(0)
    if pin:
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    started = time.monotonic()
    try:
        threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.sched_setaffinity(0, previous)
    elapsed = time.monotonic() - started
    latencies.sort()

    def percentile(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000 if latencies else 0.0

    return Run(
        len(latencies), elapsed, percentile(0.5), percentile(0.99), counts["bad"], counts["errors"],
        first_bad[0] if first_bad else "",
    )  # fmt: skip


# --- output --------------------------------------------------------------------------------


def rate_cell(run: Run) -> str:
    if run.ok:
        return f"{run.rate:,.0f}" if run.rate >= 100 else f"{run.rate:.1f}"
    if run.requests == 0:
        return "0 (no answers)"
    return f"0 (BAD: {run.bad} wrong, {run.socket_errors} lost of {run.requests})"


def ratio(service: Run, reference: Run) -> float:
    return service.rate / reference.rate if reference.rate else 0.0


def span(values: list[float], spec: str) -> str:
    """``min-max`` of ``values``."""
    return f"{format(min(values), spec)}-{format(max(values), spec)}"


def print_ranges(
    results: dict[str, list[tuple[Run, Run]]], targets: dict[str, float], rate: Callable[[Run], float]
) -> None:
    """Per operation: the range of ``rate`` of each server and of their ratio, and whether every
    round (yes), some (partly) or none (no) met the target."""
    print("|---|---:|---:|---:|---:|---|")
    for name, runs in results.items():
        services = [rate(service) for service, _ in runs]
        references = [rate(reference) for _, reference in runs]
        ratios = [rate(service) / rate(reference) if rate(reference) else 0.0 for service, reference in runs]
        met = "yes" if min(ratios) >= targets[name] else ("partly" if max(ratios) >= targets[name] else "no")
        print(
            f"| {name} | {span(services, ',.1f')} | {span(references, ',.1f')} "
            f"| {span(ratios, '.2f')} | ≥ {targets[name]:.1f} | {met} |"
        )


def print_tables(results: dict[str, list[tuple[Run, Run]]], targets: dict[str, float]) -> None:
    print(
        "\n| operation | round | service req/s | p50 ms | p99 ms | reference req/s | p50 ms | p99 ms |",
        end="",
    )
    print(" ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        for number, (service, reference) in enumerate(runs, 1):
            print(
                f"| {name} | {number} | {rate_cell(service)} | {service.p50_ms:.1f} | {service.p99_ms:.1f} "
                f"| {rate_cell(reference)} | {reference.p50_ms:.1f} | {reference.p99_ms:.1f} "
                f"| {ratio(service, reference):.2f} |"
            )
    print("\n| operation | service req/s | reference req/s | ratio service/reference | target | met |")
    print_ranges(results, targets, lambda run: run.rate)
    print(
        "\nPer core, measured by the worker's own CPU time (requests / CPU-seconds it used): "
        "the same runs, unaffected by time the machine gave to other tenants."
    )
    print("\n| operation | service req/CPU-s | reference req/CPU-s | ratio | target | met |")
    print_ranges(results, targets, lambda run: run.cpu_rate)
    for name, runs in results.items():
        for number, (service, reference) in enumerate(runs, 1):
            for side, run in (("service", service), ("reference", reference)):
                if run.first_bad:
                    print(f"{name} round {number}, {side}: first bad answer: {run.first_bad}")


# --- the benchmark -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every operation on both servers")
    parser.add_argument(
        "--seconds", type=float, default=10, help="length of one run (tokenAuth: at least 10 s)"
    )
    parser.add_argument("--rss-requests", type=int, default=100_000, help="requests of the memory check")
    parser.add_argument("--rss-tolerance", type=float, default=0.05, help="RSS growth allowed after warm-up")
    parser.add_argument(
        "--slices",
        type=int,
        default=5,
        help="each round's run of an operation is cut into this many slices, the two servers taking "
        "turns slice by slice, so that both meet the same moments of a shared machine",
    )
    parser.add_argument("--skip-rss", action="store_true", help="leave out the memory check")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s, 20,000 RSS requests")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, databases)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated operations to time, e.g. typename,whoami (matched against the start of "
        "each name, braces aside); the memory check runs only when whoami is among them",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.slices, args.rss_requests = 1, 2.0, 1, 20_000

    load = wrk_run
    if args.python_load or shutil.which("wrk") is None:
        if not args.python_load:
            print("wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) gives figures worth keeping.")
        print("Using the Python load generator: slower than wrk, so compare ratios, not req/s.\n")
        load = python_run
    pin = pinning_available()
    generator = "wrk" if load is wrk_run else "Python threads"
    print(f"Machine: {machine_line()}")
    print(
        f"Servers: gunicorn, 1 sync worker each, {'on core ' + SERVER_CORE if pin else 'not pinned'}; "
        f"load: {generator}, 1 thread, {CONNECTIONS} connections, "
        f"{'on core ' + LOAD_CORE if pin else 'not pinned (no taskset or one core)'}"
    )
    print(
        f"Rounds: {args.rounds} x {args.seconds:g} s per server and operation (tokenAuth: at least 10 s), "
        f"in {args.slices} slices, the servers taking turns"
    )

    with ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
        if args.keep:
            print(f"Logs and databases are kept in {folder}")
        else:
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        secret_key = os.urandom(48).hex()
        env = service_environment(folder, secret_key)
        migrate(env)
        service = stack.enter_context(
            gunicorn("service", "wsgi:app", folder, env, PROJECT_ROOT, pin, ["-c", "gunicorn.conf.py"])
        )
        reader = register(service, "bench_reader")
        login = register(service, "bench_login")
        build_reference_database(folder / "reference.sqlite3", folder / "service.sqlite3", reader, login)
        reference_env = {
            **os.environ,
            "REFERENCE_DATABASE": str(folder / "reference.sqlite3"),
            "REFERENCE_SECRET_KEY": secret_key,
        }
        reference = stack.enter_context(
            gunicorn("reference", "reference_app:app", folder, reference_env, BENCH_DIR, pin, ["--preload"])
        )
        ops = operations(reader, login, secret_key)
        whoami = ops[1]
        if args.only:
            ops = chosen(ops, args.only)
        for operation in ops:
            check_once(service, operation)
            check_once(reference, operation)
        print("Every operation answered correctly by both servers before timing.")
        for operation in ops:  # warm-up, not timed: first requests, caches, argon2's memory
            for server in (service, reference):
                warm_up = load(server.url, operation, folder, pin, 1)
                wait_until_idle(server)
                if not warm_up.ok:
                    raise RuntimeError(f"{server.name} answers {operation.name} wrongly: {warm_up}")

        results: dict[str, list[tuple[Run, Run]]] = {operation.name: [] for operation in ops}
        for number in range(args.rounds):
            for operation in ops:
                slices = max(1, args.slices)
                seconds = operation.seconds(args.seconds) / slices
                order = [service, reference] if number % 2 == 0 else [reference, service]
                runs: dict[str, list[Run]] = {server.name: [] for server in order}
                for _ in range(slices):
                    for server in order:
                        worker = server.worker_pid()
                        ticks = cpu_ticks(worker)
                        run = load(server.url, operation, folder, pin, seconds)
                        # Read at once: the requests wrk left queued are answered after it stopped (8
                        # logins are 1.5 s of CPU) and are not counted, so their CPU must not be either.
                        cpu_seconds = (cpu_ticks(worker) - ticks) / TICKS_PER_SECOND
                        wait_until_idle(server)
                        runs[server.name].append(dataclasses.replace(run, cpu_seconds=cpu_seconds))
                service_run, reference_run = merged(runs["service"]), merged(runs["reference"])
                results[operation.name].append((service_run, reference_run))
                print(
                    f"  round {number + 1} {operation.name}: service {rate_cell(service_run)}, "
                    f"reference {rate_cell(reference_run)} req/s; per CPU-second "
                    f"{service_run.cpu_rate:,.1f} and {reference_run.cpu_rate:,.1f}",
                    flush=True,
                )
        print_tables(results, {operation.name: operation.target for operation in ops})

        if not args.skip_rss and whoami.name in results:
            whoami_rate = max(service.rate for service, _ in results[whoami.name])
            rss_check(service, whoami, folder, pin, load, args.rss_requests, args.rss_tolerance, whoami_rate)
    return 0


def merged(runs: list[Run]) -> Run:
    """One round's slices against one server, as one run: their requests, time and CPU time added
    up, the middle slice's p50 and the worst slice's p99, every bad or lost answer counted."""
    p50s = sorted(run.p50_ms for run in runs)
    return Run(
        sum(run.requests for run in runs),
        sum(run.seconds for run in runs),
        p50s[len(p50s) // 2],
        max(run.p99_ms for run in runs),
        sum(run.bad for run in runs),
        sum(run.socket_errors for run in runs),
        next((run.first_bad for run in runs if run.first_bad), ""),
        sum(run.cpu_seconds for run in runs),
    )


def chosen(ops: list[Operation], names: str) -> list[Operation]:
    """The operations ``names`` (``--only``) asks for, in their usual order; exits if one matches none."""
    wanted = [name.strip().lower() for name in names.split(",") if name.strip()]

    def bare(operation: Operation) -> str:
        return operation.name.strip("{} _").lower()

    for name in wanted:
        if not any(bare(operation).startswith(name) for operation in ops):
            known = ", ".join(bare(operation) for operation in ops)
            raise SystemExit(f"--only: no operation named {name!r} (known: {known})")
    return [operation for operation in ops if any(bare(operation).startswith(name) for name in wanted)]


def rss_check(
    service: Server,
    whoami: Operation,
    folder: Path,
    pin: bool,
    load: Callable[..., Run],
    total: int,
    tolerance: float,
    rate: float,
) -> None:
    """Serve ``total`` whoami requests; compare the worker's RSS after a tenth of them and at the end."""
    worker = service.worker_pid()
    rate = max(rate, 10.0)  # answers a second: the rounds' whoami rate, then each chunk's

    def serve(count: int) -> int:
        """Send at least ``count`` requests, in runs of at most a minute sized by the rate seen."""
        nonlocal rate
        served = 0
        while served < count:
            run = load(service.url, whoami, folder, pin, min(60.0, max(1.0, (count - served) / rate)))
            if not run.ok:
                raise RuntimeError(f"bad answers during the memory check: {run}")
            served += run.requests
            rate = max(rate, run.requests / run.seconds)
        return served

    warmed_up = serve(max(1, total // 10))
    before = rss_kib(worker)
    served = warmed_up + serve(total - warmed_up)
    if service.worker_pid() != worker:
        raise RuntimeError("the worker was replaced during the memory check: see the service's log")
    after = rss_kib(worker)
    growth = (after - before) / before
    verdict = "ok" if growth <= tolerance else f"GROWS (more than {tolerance:.0%})"
    print("\nService worker RSS (whoami, every answer checked):")
    print("| after | RSS MiB |")
    print("|---|---:|")
    print(f"| warm-up, {warmed_up:,} requests | {before / 1024:.1f} |")
    print(f"| {served:,} requests | {after / 1024:.1f} |")
    print(f"Growth after warm-up: {after - before:+,} KiB ({growth:+.1%}): {verdict}")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the servers are stopped and the folder removed


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())
