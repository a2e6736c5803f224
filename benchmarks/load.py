"""Load benchmark: staff, the public and a partner upload at once, with an audit, against gunicorn.

    .venv/bin/python benchmarks/load.py --database-url URL [--duration 120]
        [--staff 20] [--public-rate 50] [--upload-rows 100000] [--workers 4]
        [--workdir DIR] [--port 8765] [--redis redis://127.0.0.1:6379/15]

URL is a PostgreSQL database holding an audited demo world, the issue's
being the 1,000,000-placement one:

    MONITOR_DATABASE_URL=URL MONITOR_INSTANCE_PATH=DIR monitor db upgrade
    MONITOR_DATABASE_URL=URL MONITOR_INSTANCE_PATH=DIR monitor demo --scale 1000000
    MONITOR_DATABASE_URL=URL MONITOR_INSTANCE_PATH=DIR monitor audit run

(`monitor demo` writes the world's files under DIR/demo-data; the upload is
made from them). The benchmark then:

1. prepares, in a child process: STAFF reviewer accounts `load-staff-NN`
   (a quarter of them supervisors), an API token for `partner-sa`, a
   100,000-row placements file for Saudi Arabia made from the world's own
   file with new placement ids (a new month of declarations), and the ids
   the users ask for (agencies with flags, flags, agency names);
2. serves the app with gunicorn (WORKERS sync workers, as the README's
   production section runs it) with a Redis rate-limit store shared by the
   workers and `MONITOR_TRUSTED_PROXIES=1`: each simulated client sends
   its own `X-Forwarded-For` address, as it would behind the ministry's
   proxy, so the per-client limits count per client; and `monitor
   scheduler` beside it, whose fee-summary job recomputes the dossier figures
   of the licences the upload touched (its lines are printed at the end);
3. runs, with locust, for DURATION seconds: STAFF signed-in users (through
   the real sign-in form) browsing the dashboard, the case queue (first
   page, a deep page, filtered), dossiers and flag pages and commenting on
   flags (CSRF token read from the page), one to three seconds apart; users
   making PUBLIC_RATE public licence checks a second in all (page and API,
   any agency's name with a random slip, or its licence number); 10 s in,
   `monitor upload` of the 100,000-row file with the partner's token; 20 s
   in, `monitor audit run`;
4. waits for the upload and the audit to finish, and prints per request
   kind: count, errors, p50, p95 and the slowest answer in milliseconds,
   then the upload's and the audit's outcome and time.

Targets (exit 1 if one is missed): no failed request, p95 under 200 ms for
every page, the upload stored, the audit succeeded.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--prepare-only" not in sys.argv:
    # locust runs on gevent, whose patching must come before anything imports ssl or socket.
    from gevent import monkey

    monkey.patch_all()

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "load-benchmark-password"
PARTNER = "partner-sa"
PARTNER_COUNTRY = "SA"
LIMIT_P95_MS = 200.0
UPLOAD_AFTER_S = 10.0
AUDIT_AFTER_S = 20.0


# --- 1. preparation (a child process: locust's gevent must patch a fresh interpreter) ---


def prepare(database_url: str, workdir: Path, staff: int, upload_rows: int) -> dict:
    """Accounts, the partner's token, the upload file and the ids to ask for, as JSON."""
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from monitor import db
    from monitor.models import Agency, Flag, User
    from monitor.services import accounts

    engine = db.make_engine(database_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # A production server's autovacuum has visited a freshly loaded world before
        # anyone measures it; this machine's PostgreSQL runs with autovacuum off.
        if connection.execute(sa.text("SHOW autovacuum")).scalar() == "off":
            print("autovacuum is off: VACUUM (ANALYZE) once first", file=sys.stderr)
            connection.execute(sa.text("VACUUM (ANALYZE)"))
    with Session(engine) as session:
        for number in range(1, staff + 1):
            username = f"load-staff-{number:02d}"
            if session.scalar(sa.select(User.id).where(User.username == username)) is None:
                accounts.create_user(
                    session,
                    username=username,
                    password=PASSWORD,
                    role="supervisor" if number % 4 == 0 else "reviewer",
                    country=None,
                    actor="load-benchmark",
                )
        token = accounts.create_token(session, username=PARTNER, name="load benchmark")
        session.commit()
        busiest = (
            session.execute(
                sa.select(Flag.licence_no)
                .join(Agency, Agency.licence_no == Flag.licence_no)  # a dossier exists
                .where(Flag.status == "open")
                .group_by(Flag.licence_no)
                .order_by(sa.func.count().desc())
                .limit(200)
            )
            .scalars()
            .all()
        )
        flag_ids = (
            session.execute(
                sa.select(Flag.id).where(Flag.status == "open").order_by(Flag.id).limit(1000)
            )
            .scalars()
            .all()
        )
        agencies = [list(row) for row in session.execute(sa.select(Agency.name, Agency.licence_no))]
    engine.dispose()
    upload = workdir / "load-upload" / "placements.csv"
    write_upload_file(
        workdir / "demo-data" / "declarations" / PARTNER_COUNTRY / "placements.csv",
        upload,
        upload_rows,
    )
    return {
        "token": token,
        "licences": busiest,
        "flags": flag_ids,
        "agencies": agencies,
        "upload": str(upload),
    }


def write_upload_file(source: Path, target: Path, rows: int) -> None:
    """The first ROWS placements of SOURCE with new placement ids (`SA-P-` -> `SA-LOAD-`)."""
    if not source.exists():
        raise SystemExit(f"{source} is missing: build the world with `monitor demo` in --workdir")
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d%H%M%S")
    with (
        source.open(newline="", encoding="utf-8") as inp,
        target.open("w", newline="", encoding="utf-8") as out,
    ):
        reader = csv.reader(inp)
        writer = csv.writer(out, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        id_column = header.index("placement_id")
        for count, row in enumerate(reader):
            if count == rows:
                break
            row[id_column] = f"SA-LOAD{stamp}-{count:07d}"
            writer.writerow(row)


def public_query(name: str, licence_no: str) -> str:
    """What a member of the public types: mostly the name's longer first word with two
    letters swapped at a random place (a typing slip), sometimes the licence number as
    written on a receipt. Random each time, so that the answers the server keeps for
    repeated queries are not what this measures: 300 agencies give thousands of queries."""
    if random.random() < 0.2:
        return random.choice((licence_no, licence_no.lower(), licence_no.replace("-", " ")))
    word = max(name.split()[:2], key=len).lower()
    if len(word) <= 4:
        return word
    at = random.randrange(1, len(word) - 1)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


# --- 2. the server ---


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MONITOR_DATABASE_URL": args.database_url,
        "MONITOR_INSTANCE_PATH": str(args.workdir),
        "MONITOR_SECRET_KEY": "load-benchmark-secret-key-not-for-production",
        "MONITOR_TRUSTED_PROXIES": "1",
        "MONITOR_RATE_LIMIT_STORAGE": args.redis,
    }


def start_gunicorn(args: argparse.Namespace, log: Path) -> subprocess.Popen:
    """gunicorn with WORKERS sync workers; returns once /healthz answers."""
    import requests

    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{args.port}",
            "--timeout",
            "600",  # the upload of a large file is one long request
            "monitor:create_app()",
        ],
        env=server_environment(args),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(240):
        try:
            if requests.get(f"http://127.0.0.1:{args.port}/healthz", timeout=2).ok:
                return process
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({process.returncode}); see {log}")
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"gunicorn did not answer /healthz within 2 minutes; see {log}")


def start_scheduler(args: argparse.Namespace, log: Path) -> subprocess.Popen:
    """`monitor scheduler` beside gunicorn, as production runs it: its fee-summary job
    recomputes the dossier figures of the licences the upload touched (the nightly
    audit is moved to 1 January, so that only the benchmark's own audit runs)."""
    return subprocess.Popen(
        [str(BIN / "monitor"), "scheduler"],
        env={**server_environment(args), "MONITOR_AUDIT_CRON": "0 2 1 1 *"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def cpu_seconds(server_pid: int, scheduler_pid: int) -> dict[str, float]:
    """CPU seconds so far of gunicorn (master and workers), the scheduler, PostgreSQL's
    processes, this process (locust), the upload and audit commands it starts and the
    whole machine (busy time over all cores)."""
    import psutil

    def used(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system

    server = psutil.Process(server_pid)
    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
    machine = psutil.cpu_times()
    this = psutil.Process()
    commands = [
        process
        for child in this.children()
        if child.pid not in (server_pid, scheduler_pid)
        for process in (child, *child.children(recursive=True))
    ]
    return {
        "gunicorn": used(server) + sum(used(child) for child in server.children(recursive=True)),
        "scheduler": used(psutil.Process(scheduler_pid)),
        "PostgreSQL": sum(used(process) for process in postgres),
        "locust": used(this),
        # Running commands from psutil, finished ones from the kernel's account of them.
        "upload and audit commands": sum(used(process) for process in commands)
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime,
        "machine": machine.user + machine.system + getattr(machine, "nice", 0.0),
    }


# --- 3. the users (locust) ---


def run_load(args: argparse.Namespace, targets: dict, server_pid: int, scheduler_pid: int) -> int:
    """Run the users, the upload and the audit; print the figures; 0 when every target is met."""
    import re

    import gevent
    from gevent import subprocess as green_subprocess
    from locust import HttpUser, between, task
    from locust.env import Environment

    base_url = f"http://127.0.0.1:{args.port}"
    csrf_pattern = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
    addresses = iter(range(1, 1 << 24))

    def client_address() -> str:
        number = next(addresses)
        return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"

    class Staff(HttpUser):
        """A ministry reviewer or supervisor working through the queue."""

        fixed_count = args.staff
        wait_time = between(1, 3)
        host = base_url
        accounts = iter(range(1, args.staff + 1))

        def on_start(self) -> None:
            self.client.headers["X-Forwarded-For"] = client_address()
            username = f"load-staff-{next(Staff.accounts):02d}"
            page = self.client.get("/login", name="sign-in form")
            token = csrf_pattern.search(page.text).group(1)
            with self.client.post(
                "/login",
                data={"csrf_token": token, "username": username, "password": PASSWORD},
                name="sign in",
                catch_response=True,
            ) as answer:
                if "/login" in answer.url:
                    answer.failure(f"{username} could not sign in")

        @task(2)
        def dashboard(self) -> None:
            self.client.get("/dashboard", name="dashboard")

        @task(3)
        def queue(self) -> None:
            self.client.get("/cases", name="cases")

        @task(1)
        def deep_queue_page(self) -> None:
            self.client.get(f"/cases?page={random.randint(2, 12)}", name="cases, later page")

        @task(1)
        def filtered_queue(self) -> None:
            rule = random.choice(["FEE_OVER_CAP", "LIC_INACTIVE_PLACEMENT", "COI_OFFICIAL_LINK"])
            self.client.get(f"/cases?rule={rule}&severity=high", name="cases, filtered")

        @task(2)
        def dossier(self) -> None:
            licence = random.choice(targets["licences"])
            self.client.get(f"/agencies/{licence}", name="dossier")

        @task(3)
        def flag(self) -> None:
            self.client.get(f"/flags/{random.choice(targets['flags'])}", name="flag")

        @task(1)
        def comment(self) -> None:
            flag_id = random.choice(targets["flags"])
            page = self.client.get(f"/flags/{flag_id}", name="flag")
            found = csrf_pattern.search(page.text)
            if found is None:
                return
            self.client.post(
                f"/flags/{flag_id}/decisions",
                data={
                    "csrf_token": found.group(1),
                    "action": "comment",
                    "explanation": "Load benchmark: asked the partner for the receipts.",
                },
                name="comment on a flag",
            )

    class Public(HttpUser):
        """Workers and employers checking agencies' licences, one check a second."""

        fixed_count = args.public_rate
        host = base_url

        def wait_time(self) -> float:
            # Poisson arrivals, one a second per user on average: the public does
            # not click in step (with `constant_throughput` all fire together).
            return random.expovariate(1.0)

        # Each check comes from another member of the public (another address):
        # the per-client limit is not what this measures.

        @task(3)
        def check_page(self) -> None:
            query = public_query(*random.choice(targets["agencies"]))
            self.client.get(
                f"/check?q={query}",
                name="public check",
                headers={"X-Forwarded-For": client_address()},
            )

        @task(1)
        def check_api(self) -> None:
            query = public_query(*random.choice(targets["agencies"]))
            self.client.get(
                f"/api/v1/public/licences?q={query}",
                name="public check API",
                headers={"X-Forwarded-For": client_address()},
            )

    environment = Environment(user_classes=[Staff, Public])
    runner = environment.create_local_runner()
    outcomes: dict[str, dict] = {}

    def timed_command(label: str, delay: float, command: list[str], extra_env: dict) -> None:
        gevent.sleep(delay)
        started = time.monotonic()
        finished = green_subprocess.run(
            command,
            env={**server_environment(args), **extra_env},
            capture_output=True,
            text=True,
        )
        outcomes[label] = {
            "seconds": time.monotonic() - started,
            "exit": finished.returncode,
            "output": (finished.stdout + finished.stderr).strip(),
        }

    users = args.staff + args.public_rate
    runner.start(users, spawn_rate=users)
    # Signing in (a deliberately slow password hash) is the warm-up, not the load:
    # the figures, the upload and the audit start once every staff user is in.
    while environment.stats.get("sign in", "POST").num_requests < args.staff:
        gevent.sleep(0.2)
    sign_in = environment.stats.get("sign in", "POST")
    print(
        f"sign-in of {args.staff} staff at once (warm-up, not counted): "
        f"p50 {sign_in.get_response_time_percentile(0.5):.0f} ms, "
        f"slowest {sign_in.max_response_time:.0f} ms"
    )
    environment.stats.reset_all()
    cpu_before, started = cpu_seconds(server_pid, scheduler_pid), time.monotonic()
    monitor = str(BIN / "monitor")
    jobs = []
    if not args.skip_upload:
        upload = [monitor, "upload", targets["upload"], "--kind", "placements", "--url", base_url]
        jobs.append(
            gevent.spawn(
                timed_command,
                "upload",
                UPLOAD_AFTER_S,
                upload,
                {"MONITOR_UPLOAD_TOKEN": targets["token"]},
            )
        )
    if not args.skip_audit:
        jobs.append(
            gevent.spawn(timed_command, "audit", AUDIT_AFTER_S, [monitor, "audit", "run"], {})
        )
    gevent.sleep(args.duration)
    cpu_after, elapsed = cpu_seconds(server_pid, scheduler_pid), time.monotonic() - started
    runner.quit()
    gevent.joinall(jobs)
    print(
        "CPU during the run, in cores (this machine has "
        f"{os.cpu_count()}): "
        + ", ".join(
            f"{name} {(cpu_after[name] - cpu_before[name]) / elapsed:.2f}" for name in cpu_after
        )
    )
    return report(environment.stats, outcomes, args)


# --- 4. the figures ---

PAGES = (
    "dashboard",
    "cases",
    "cases, later page",
    "cases, filtered",
    "dossier",
    "flag",
    "comment on a flag",
    "public check",
    "public check API",
)


def report(stats, outcomes: dict[str, dict], args: argparse.Namespace) -> int:
    print(
        f"\n{args.staff} staff, {args.public_rate} public checks/s, {args.duration:.0f} s, "
        f"gunicorn -w {args.workers}"
    )
    print(f"{'request':<22}{'count':>8}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    missed = []
    for entry in sorted(stats.entries.values(), key=lambda e: e.name):
        p50 = entry.get_response_time_percentile(0.5)
        p95 = entry.get_response_time_percentile(0.95)
        print(
            f"{entry.name:<22}{entry.num_requests:>8}{entry.num_failures:>8}"
            f"{p50:>9.0f}{p95:>9.0f}{entry.max_response_time:>9.0f}"
        )
        if entry.num_failures:
            missed.append(f"{entry.name}: {entry.num_failures} errors")
        if entry.name in PAGES and p95 >= LIMIT_P95_MS:
            missed.append(f"{entry.name}: p95 {p95:.0f} ms")
    total = stats.total
    print(
        f"{'all':<22}{total.num_requests:>8}{total.num_failures:>8}"
        f"{total.get_response_time_percentile(0.5):>9.0f}"
        f"{total.get_response_time_percentile(0.95):>9.0f}{total.max_response_time:>9.0f}"
        f"   ({total.num_requests / args.duration:.1f} requests/s)"
    )
    for error in list(stats.errors.values())[:10]:
        print(f"  error: {error.method} {error.name}: {error.error} x{error.occurrences}")
    for label in [name for name in ("upload", "audit") if not getattr(args, f"skip_{name}")]:
        outcome = outcomes.get(label)
        if outcome is None:
            missed.append(f"{label}: did not start")
            continue
        last_lines = " | ".join(outcome["output"].splitlines()[-3:])
        print(f"{label}: exit {outcome['exit']} after {outcome['seconds']:.1f} s: {last_lines}")
        if outcome["exit"] != 0:
            missed.append(f"{label}: exit {outcome['exit']}")
    if missed:
        print("MISSED: " + "; ".join(missed))
        return 1
    print("All targets met.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="an audited demo world (PostgreSQL)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-data" / "load")
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--staff", type=int, default=20)
    parser.add_argument("--public-rate", type=int, default=50)
    parser.add_argument("--upload-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--skip-upload", action="store_true", help="no upload (to compare)")
    parser.add_argument("--skip-audit", action="store_true", help="no audit (to compare)")
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.prepare_only:  # the child process of step 1
        print(json.dumps(prepare(args.database_url, args.workdir, args.staff, args.upload_rows)))
        return 0
    prepared = subprocess.run(
        [sys.executable, __file__, *(argv or sys.argv[1:]), "--prepare-only"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    targets = json.loads(prepared.stdout.strip().splitlines()[-1])
    server = start_gunicorn(args, args.workdir / "gunicorn.log")
    scheduler_log = args.workdir / "scheduler.log"
    scheduler = start_scheduler(args, scheduler_log)
    try:
        return run_load(args, targets, server.pid, scheduler.pid)
    finally:
        for process in (scheduler, server):
            process.terminate()
            process.wait(timeout=60)
        for line in scheduler_log.read_text(encoding="utf-8").splitlines():
            if "fee summary" in line:
                print(f"scheduler: {line}")


if __name__ == "__main__":
    sys.exit(main())
