"""Load test of the production profile on this machine: PostgreSQL, `exoderm serve` with several
processes, two `exoderm worker`, driven by locust on the loopback for a bounded time.

A mixed clinic workload: staff on the pages (Today, the patient list, patient pages, lots and a
lot's recall list) and API clients (patient and photo lists, photo uploads whose analyses the
workers run). The load rises in steps; for each step the sustained requests per second, the p95
and the failures are recorded, and the highest step whose p95 stays under 300 ms with no failed
request is the result. Then the queue drain rate of photo analyses with one and with two workers,
and where the time goes at the limit (server-side time per route from /metrics).

Charting sessions is not part of the mix yet (a valid chart needs a thawed vial within its window
for every request). Run: ``uv run python -m bench.load`` (writes the "load" section of
docs/benchmarks.md; about six minutes). Needs PostgreSQL at ``BENCH_POSTGRES`` (default
``postgres://postgres@127.0.0.1:5432``); it creates and drops the database ``exoderm_load``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: locust's users are greenlets

import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from locust import HttpUser, between, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from bench._site import api, phantom_pngs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = "exoderm_load"
STEPS = (4, 8, 16, 32, 48)  # concurrent users, each waiting 0.5 to 1.5 s between requests
STEP_SECONDS = 30
P95_LIMIT_MS = 300
TOKEN = "bench-load-metrics"
DRAIN_PHOTOS = 24
MIN_ROUTE_REQUESTS = 10


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{args} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{SERVER}/postgres", "-q", "-c", sql], check=True, capture_output=True)


class Site:
    """What the users share: ids found at the start, the upload files, the API token."""

    patients: list[int] = []
    uploadable: list[int] = []
    lots: list[int] = []
    token = ""
    files: list[bytes] = []


class Staff(HttpUser):
    weight = 3
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        page = self.client.get("/login/", name="login")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf, "no CSRF token on the login page"
        self.client.post(
            "/login/",
            {
                "username": "clinician",
                "password": "Demo-Clinician-2026!",
                "csrfmiddlewaretoken": csrf.group(1),
            },
            headers={"Referer": f"{self.host}/login/"},
            name="login",
        )

    @task(4)
    def today(self) -> None:
        self.client.get("/", name="today")

    @task(2)
    def patient_list(self) -> None:
        self.client.get("/patients/", name="patients/")

    @task(4)
    def patient_page(self) -> None:
        self.client.get(f"/patients/{random.choice(Site.patients)}/", name="patients/<id>/")

    @task(1)
    def lot_page(self) -> None:
        self.client.get(f"/lots/{random.choice(Site.lots)}/", name="lots/<id>/")

    @task(1)
    def recall_list(self) -> None:
        self.client.get(f"/lots/{random.choice(Site.lots)}/affected/", name="lots/<id>/affected/")


class ApiClient(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {Site.token}"

    @task(3)
    def patients(self) -> None:
        self.client.get("/api/v1/patients", name="api patients")

    @task(3)
    def photos(self) -> None:
        self.client.get(f"/api/v1/photos?patient={random.choice(Site.uploadable)}", name="api photos")

    @task(1)
    def upload(self) -> None:
        data = Site.files.pop() if Site.files else None
        if data is None:
            return
        self.client.post(
            "/api/v1/photos",
            data={"patient": random.choice(Site.uploadable), "view": "close_up", "timepoint": "follow_up",
                  "area": "cheek_left", "mm_per_px": "0.05"},
            files={"file": ("closeup.png", data, "image/png")},
            name="api upload",
        )  # fmt: skip


def drain_rate(env: dict[str, str], workers: int, root: Path) -> float:
    """Photos analysed per minute by ``workers`` workers from a queue of DRAIN_PHOTOS analyses, timed
    in the database from the first task's start to the last one's end (worker start-up excluded)."""
    procs = [start(["worker"], env, root / f"drain-{workers}-{n}.log") for n in range(workers)]
    try:
        time.sleep(15)  # the workers load the engine before they take a task
        marker = sql_value("SELECT now()")
        run("manage.py", "shell", "-c", (
            "from exoderm.photos.models import Analysis, Photo\n"
            "from exoderm.photos.tasks import enqueue_analysis\n"
            f"ids = list(Photo.objects.order_by('-pk').values_list('pk', flat=True)[:{DRAIN_PHOTOS}])\n"
            "Analysis.objects.filter(photo_id__in=ids).delete()\n"
            "Photo.objects.filter(pk__in=ids).update(analysis_status='queued')\n"
            "[enqueue_analysis(pk) for pk in ids]"
        ), env=env)  # fmt: skip
        # the photo analyses only: the workers' own periodic tasks wait READY for their next run
        while int(sql_value("SELECT count(*) FROM django_tasks_database_dbtaskresult "
                            "WHERE status IN ('READY', 'RUNNING') "
                            "AND task_path = 'exoderm.photos.tasks.analyse_photo'")):  # fmt: skip
            time.sleep(0.1)
    finally:
        stop(procs)
    seconds = float(
        sql_value(
            "SELECT extract(epoch FROM max(finished_at) - min(started_at)) "
            f"FROM django_tasks_database_dbtaskresult WHERE enqueued_at >= '{marker}' "
            "AND task_path = 'exoderm.photos.tasks.analyse_photo'"
        )
    )
    return DRAIN_PHOTOS / seconds * 60


def sql_value(query: str) -> str:
    """One value from the benchmark's database (psql: outside this gevent process)."""
    out = subprocess.run(
        ["psql", f"{SERVER}/{DATABASE}", "-tAc", query], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "exoderm.cli", *command], env=env, cwd=REPO,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def route_times(base: str) -> list[tuple[str, float, int]]:
    """(route, mean server-side ms, requests) from the server's own histogram, slowest first."""
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = urllib.request.urlopen(request, timeout=30).read().decode()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    sample = re.compile(r"^(exoderm_http_request_duration_seconds_(?:sum|count))\{(.*)\} (\S+)$", re.M)
    for name, labels, value in sample.findall(text):
        route = re.search(r'route="([^"]*)"', labels).group(1)  # type: ignore[union-attr]
        target = sums if name.endswith("sum") else counts
        target[route] = target.get(route, 0.0) + float(value)
    rows = [
        (route, sums[route] / counts[route] * 1000, int(counts[route])) for route in counts if counts[route]
    ]
    return sorted(rows, key=lambda row: -row[1])


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="exoderm-bench-load-"))
    (root / "prometheus").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "EXODERM_DATA_DIR": str(root),
        "SECURE_COOKIES": "0",
        "DB_CONN_MAX_AGE": "60",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(root / "prometheus"),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
        "DJANGO_SETTINGS_MODULE": "exoderm.settings",
    }
    psql(f"DROP DATABASE IF EXISTS {DATABASE}")
    psql(f"CREATE DATABASE {DATABASE}")
    run("manage.py", "migrate", "-v", "0", env=env)
    run("manage.py", "shell", "-c", "from exoderm.demo import seed_demo; seed_demo()", env=env)
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    server_processes = os.cpu_count() or 2
    server = start(
        ["serve", "--port", str(port), "--workers", str(server_processes)], env, root / "server.log"
    )
    workers = [start(["worker"], env, root / f"worker-{n}.log") for n in range(2)]
    steps = []
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=30).close()
                break
            except OSError:
                time.sleep(0.5)
        Site.token = api(
            base, "/api/v1/auth/token", body={"username": "clinician", "password": "Demo-Clinician-2026!"}
        )["token"]
        Site.patients = [p["id"] for p in api(base, "/api/v1/patients?limit=500", token=Site.token)["items"]]
        Site.lots = [lot["id"] for lot in api(base, "/api/v1/lots?limit=500", token=Site.token)["items"]]
        # patients with photos hold a photo consent: uploads for them are stored
        Site.uploadable = [
            pk for pk in Site.patients if api(base, f"/api/v1/photos?patient={pk}", token=Site.token)["count"]
        ]
        Site.files = phantom_pngs(600)

        environment = Environment(user_classes=[Staff, ApiClient], host=base)
        runner = environment.create_local_runner()
        for users in STEPS:
            runner.start(users, spawn_rate=users)
            gevent.sleep(5)  # settle: logins and the spawn are not part of the step
            runner.stats.reset_all()
            gevent.sleep(STEP_SECONDS)
            total = runner.stats.total
            steps.append({
                "users": users,
                "rps": total.num_requests / STEP_SECONDS,
                "p50": total.get_response_time_percentile(0.5),
                "p95": total.get_response_time_percentile(0.95),
                "failures": total.num_failures,
                "requests": total.num_requests,
            })  # fmt: skip
            print(steps[-1], flush=True)
        runner.quit()
        at_limit = route_times(base)
        stop(workers)
        workers = []
        drain = {n: drain_rate(env, n, root) for n in (1, 2)}
    finally:
        stop([server, *workers])
        psql(f"DROP DATABASE IF EXISTS {DATABASE}")

    from bench._report import write_section

    good = [s for s in steps if s["p95"] <= P95_LIMIT_MS and s["failures"] == 0]
    best = max(good, key=lambda s: s["rps"]) if good else None
    lines = [
        "## Load: the production profile under a mixed clinic workload (`bench/load.py`)",
        "",
        f"PostgreSQL on this machine, `exoderm serve --workers {server_processes}`, two `exoderm worker`, "
        f"locust on the loopback; each step {STEP_SECONDS} s after 5 s to settle. "
        "Staff (3 of 4 users): Today, patient list and pages, lots and recall lists; "
        "API clients (1 of 4): patient and photo lists and photo uploads "
        "(analysed by the workers meanwhile). Charting is not in the mix yet.",
        "",
        "| users | requests/s | p50 ms | p95 ms | failed |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {s['users']} | {s['rps']:.1f} | {s['p50']:.0f} | {s['p95']:.0f} | {s['failures']} |"
            for s in steps
        ),
        "",
        (
            f"**Sustained with p95 under {P95_LIMIT_MS} ms and no failed request: "
            f"{best['rps']:.1f} requests/s** "
            f"({best['users']} users)."
            if best
            else f"No step kept p95 under {P95_LIMIT_MS} ms without failures."
        ),
        "",
        f"Queue drain ({DRAIN_PHOTOS} close-ups of 640x480): {drain[1]:.0f} analyses/minute with one worker, "
        f"{drain[2]:.0f} with two ({drain[2] / drain[1]:.2f}x): {_second_worker(drain[2] / drain[1])} "
        "(see docs/operations.md).",
        "",
        "Where the time goes over the whole run, server side (from `/metrics`), slowest routes first "
        f"(routes asked at least {MIN_ROUTE_REQUESTS} times: a process's first answers include its start):",
        "",
        "| route | mean ms | requests |",
        "| --- | ---: | ---: |",
        *(
            f"| `/{route}` | {ms:.1f} | {n} |"
            for route, ms, n in [row for row in at_limit if row[2] >= MIN_ROUTE_REQUESTS][:8]
        ),
        "",
        "`/login/` is the password check: Argon2 is slow on purpose (docs/security.md), a sign-in a "
        "session, not a request a page.",
    ]
    write_section("load", "\n".join(lines))
    print("\n".join(lines))
    return 0


def _second_worker(gain: float) -> str:
    """What the second worker's gain in the queue drain says: one analysis keeps one core busy."""
    if gain >= 1.1:
        return "the second worker analyses on the second core"
    if gain <= 0.9:
        return "the second worker only adds contention: the other core was busy with other work"
    return "the second worker gains nothing: the other core was busy with other work"


if __name__ == "__main__":
    sys.exit(main())
