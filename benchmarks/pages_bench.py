"""Benchmark: the staff workspace pages' response times through the WSGI app.

    python benchmarks/pages_bench.py [--placements 20000] [--requests 50]
                                     [--postgres URL] [--workdir DIR]
    python benchmarks/pages_bench.py --database-url URL [--requests 50]

Builds (once, kept in WORKDIR) the demo world with `monitor demo --scale
PLACEMENTS` and one audit (`monitor audit run`), in a SQLite file or, with
`--postgres`, in that database; building is not timed. With
`--database-url` it uses that database as it is (migrated to head, with
the demo accounts and an audit run) and builds nothing. Then signs the demo
`reviewer` in through the real form with Flask's test client (the whole
WSGI app: sessions, CSRF, security headers, templates) and requests each
page REQUESTS times after three warm-up requests, printing p50, p95 and the
slowest answer in milliseconds. The API is timed with a staff token.

Pages: the dashboard; the case queue (first page, a deep page, filtered by
rule and partner, by agency name); the dossier of the agency with the most
flags; a FEE_OVER_CAP flag and a LIC_DUPLICATE_WORKER (or COI) flag; the
registry (first page and a search); the audit runs; the public check with
a misspelt agency name (its rate limit is lifted for the benchmark).

Target: p95 under 200 ms for every page (exit 1 if one is missed). The
issue's figure is for the 1,000,000-placement world (about 300,000 flags);
the default is a small world, since building the large one takes minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from monitor import create_app  # noqa: E402
from monitor.models import Agency, Flag  # noqa: E402
from monitor.services import accounts  # noqa: E402

LIMIT_P95_MS = 200.0
WARM_UP = 3
DEMO_PASSWORD = "demo-password"


def build_world(workdir: Path, database_url: str, placements: int) -> None:
    """The demo world and one audit, made by the real command line (skipped when present)."""
    env = {
        **os.environ,
        "MONITOR_INSTANCE_PATH": str(workdir),
        "MONITOR_DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
    }
    monitor = [str(Path(sys.executable).with_name("monitor"))]
    subprocess.run([*monitor, "db", "upgrade"], env=env, check=True)
    subprocess.run(
        [*monitor, "demo", "--scale", str(placements), "--if-empty"], env=env, check=True
    )
    runs = subprocess.run(
        [*monitor, "audit", "runs", "--limit", "1"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    if "succeeded" not in runs.stdout:
        subprocess.run([*monitor, "audit", "run"], env=env, check=True)


def distinctive_word(name: str) -> str:
    """The longer of the name's first two words."""
    return max(name.split()[:2], key=len)


def misspelt(name: str) -> str:
    """The agency's distinctive word with two letters swapped, lower case."""
    word = distinctive_word(name).lower()
    return word[:2] + word[3] + word[2] + word[4:] if len(word) > 4 else word


def bench_targets(app) -> dict[str, str]:
    """Ids the pages are asked for: the most-flagged agency, two flags, a name."""
    with app.extensions["monitor.sessionmaker"]() as session:
        licence_no = session.execute(
            sa.select(Flag.licence_no)
            .where(Flag.licence_no.is_not(None))
            .group_by(Flag.licence_no)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).scalar_one()
        fee_flag = session.execute(
            sa.select(sa.func.min(Flag.id)).where(Flag.rule == "FEE_OVER_CAP")
        ).scalar_one()
        worker_flag = (
            session.execute(
                sa.select(sa.func.min(Flag.id)).where(Flag.rule == "LIC_DUPLICATE_WORKER")
            ).scalar_one()
            or session.execute(
                sa.select(sa.func.min(Flag.id)).where(Flag.rule.like("COI%"))
            ).scalar_one()
        )
        name = session.execute(
            sa.select(Agency.name).where(Agency.licence_no == licence_no)
        ).scalar_one()
        flags = session.execute(sa.select(sa.func.count()).select_from(Flag)).scalar_one()
    return {
        "licence_no": licence_no,
        "fee_flag": str(fee_flag),
        "worker_flag": str(worker_flag),
        "misspelt": misspelt(name),
        "word": distinctive_word(name),
        "flags": str(flags),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--placements", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", help="PostgreSQL URL of the database to use")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-data" / "pages")
    parser.add_argument(
        "--database-url", help="use this audited database as it is (builds nothing)"
    )
    args = parser.parse_args()

    if args.database_url:
        database_url = args.database_url
    else:
        workdir = args.workdir / f"{'pg' if args.postgres else 'sqlite'}-{args.placements}"
        workdir.mkdir(parents=True, exist_ok=True)
        database_url = args.postgres or f"sqlite:///{workdir / 'monitor.sqlite3'}"
        build_world(workdir, database_url, args.placements)

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "PUBLIC_RATE_LIMIT": "1000000 per minute",
        }
    )
    targets = bench_targets(app)
    with app.extensions["monitor.sessionmaker"]() as session:
        token = accounts.create_token(session, username="reviewer", name="pages-bench")
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    signed_in = client.post(
        "/login", data={"username": "reviewer", "password": DEMO_PASSWORD, "csrf_token": csrf}
    )
    assert signed_in.status_code == 302, "the demo reviewer could not sign in"

    check = client.get(f"/check?q={quote(targets['misspelt'])}").get_data(as_text=True)
    assert targets["word"] in check, "the public check did not find the misspelt name"
    total_cases = int(
        re.search(r'id="case-count">(\d+) case', client.get("/cases").get_data(as_text=True)).group(
            1
        )
    )
    deep = max(total_cases - 50, 0) // 50 * 50
    licence = quote(targets["licence_no"], safe="")
    pages = {
        "dashboard": ("/dashboard", {}),
        "queue, first page": ("/cases", {}),
        f"queue, deep page (offset {deep})": (f"/cases?offset={deep}", {}),
        "queue, filtered by rule": ("/cases?rule=FEE_OVER_CAP", {}),
        "queue, filtered by rule and partner": ("/cases?rule=FEE_OVER_CAP&country=MY", {}),
        "queue, by agency name, sorted by workers": ("/cases?agency=a&sort=workers", {}),
        f"dossier, most flags ({targets['licence_no']})": (f"/agencies/{licence}", {}),
        f"flag FEE_OVER_CAP (#{targets['fee_flag']})": (f"/flags/{targets['fee_flag']}", {}),
        f"flag on a worker (#{targets['worker_flag']})": (
            f"/flags/{targets['worker_flag']}",
            {},
        ),
        "registry, first page": ("/registry", {}),
        "registry, search": (f"/registry?q={targets['misspelt'][:4]}", {}),
        "audit runs": ("/audit/runs", {}),
        f"public check, misspelt ({targets['misspelt']})": (
            f"/check?q={quote(targets['misspelt'])}",
            {},
        ),
        "API cases, first page": ("/api/v1/cases", {"Authorization": f"Bearer {token}"}),
    }
    where = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print(
        f"{where}: {targets['flags']} flags, {total_cases} cases, "
        f"{args.requests} requests each, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'page':50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    missed = []
    for name, (path, headers) in pages.items():
        times: list[float] = []
        for attempt in range(WARM_UP + args.requests):
            start = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200, f"{path}: {response.status_code}"
            if attempt >= WARM_UP:
                times.append(elapsed)
        p95 = percentile(times, 0.95)
        print(f"{name:50} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}")
        if p95 >= LIMIT_P95_MS:
            missed.append(name)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    with app.extensions["monitor.sessionmaker"]() as session:
        accounts.revoke_token(session, accounts.token_id(session, token))
    if missed:
        print(f"p95 over {LIMIT_P95_MS:.0f} ms: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
