"""Fault drills at a realistic size: what clinics and operators see while a part of the system fails.

Run: ``python -m bench.faults --postgres URL`` (about 6 minutes; needs root for the UTS namespaces
of the two worker hosts and for the small photo volume). ``URL`` names a PostgreSQL database of the
drill's own: it is emptied first, and the drills end the sessions of that database only, never of
another one, and never restart the server (others may share it).

One site in a temporary directory on that database: a clinic with a clinician and patients, and an
archive of stored photos (seeded as ``bench/reanalysis.py`` seeds it). The drills, in this order:

(c) Two workers on two hosts (``exoderm worker`` each in its own UTS namespace and working
    directory, ``tests/photos/_scenario.py``) analyse the archive; one is SIGKILLed inside an
    analysis and not restarted: the other host takes the dead host's photo over once its heartbeat
    is stale. Counted: analyses per photo (exactly once, lost, duplicated).
(a) A loop of concurrent page and API requests against ``exoderm serve`` while every few seconds all
    sessions of the site's database are terminated (``pg_terminate_backend``, as a restart or a
    failover does): answers 200, 503 (problem+json on the API), other errors and hangs, and the time
    from each termination to the next request served.
(b) The same loop while another session holds an exclusive lock on the patients table longer than
    the statement timeout: the requests that need the table answer 503 after the timeout instead
    of hanging, the others are served.
(d) Uploads into a photo volume that fills up (a small tmpfs, as ``tests/photos/test_storage_full.py``
    mounts one): refused with the message, no half-written file, no row without its file; the
    volume is then grown while the server runs and the next upload is stored.

Results go to the ``faults`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.ops._server import exoderm_serve  # noqa: E402
from tests.photos import _scenario  # noqa: E402

from bench._report import write_section  # noqa: E402
from bench._site import api, phantom_pngs  # noqa: E402

ARCHIVE = 300  # photos analysed by the two hosts
ARCHIVE_SIDE = 480  # px high: a few tenths of a second per analysis, so a kill lands inside one
HEARTBEAT_SECONDS = "2"  # a dead host is noticed after three missed beats
RECOVERY_SECONDS = "5"
CLIENTS = 8  # concurrent clients of the request loop
DRILL_SECONDS = 60
TERMINATE_EVERY = 6.0
STATEMENT_TIMEOUT_MS = 2000
LOCK_SECONDS = 10.0
HANG_SECONDS = 30.0  # an answer later than this counts as a hang (the client gives up)
VOLUME_KB = 1536  # about eight of the drill's photos
UPLOADS = 16


# --- (c) two hosts, one killed ---------------------------------------------------------------------


def drill_hosts(root: Path) -> dict:
    """Analyse the archive with workers on two hosts, SIGKILL one inside an analysis."""
    _scenario.run(root, "manage.py", "reanalyze", "--skip-checks")
    settings = {"WORKER_HEARTBEAT_SECONDS": HEARTBEAT_SECONDS, "PHOTO_RECOVERY_SECONDS": RECOVERY_SECONDS}
    started = time.monotonic()
    hosts = {
        h: _scenario.start_worker_on_host(root, h, production=True, **settings) for h in ("host-a", "host-b")
    }
    victim_photo = None
    try:
        while True:  # host-a dies inside an analysis once about a third of the archive is analysed
            with _scenario.snapshot(root) as query:
                ((analysed,),) = query("SELECT COUNT(*) FROM photos_analysis")
                held = query(
                    "SELECT id FROM photos_photo WHERE analysis_status = 'running' "
                    "AND analysis_worker LIKE 'host-a:%%'"
                )
            if analysed >= ARCHIVE // 3 and held:
                victim_photo = held[0][0]
                break
            assert hosts["host-a"].poll() is None, (root / "host-a.log").read_text()[-3000:]
            assert time.monotonic() - started < 900, analysed
            time.sleep(0.05)
        os.killpg(hosts["host-a"].pid, signal.SIGKILL)
        hosts["host-a"].wait()
        killed_at = time.monotonic()
        analysed_at_kill = analysed
        taken_over = None
        while True:
            state = _scenario.status(root)
            if taken_over is None and state["photos"][str(victim_photo)]["status"] == "done":
                taken_over = time.monotonic() - killed_at
            if state["finished"] >= ARCHIVE and taken_over is not None:
                break
            assert hosts["host-b"].poll() is None, (root / "host-b.log").read_text()[-3000:]
            assert time.monotonic() - killed_at < 900, state["finished"]
            time.sleep(0.2)
        seconds = time.monotonic() - started
    finally:
        for worker in hosts.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=60)
    counts = [p["analyses"] for p in state["photos"].values()]
    lost_tasks = [t for t in state["tasks"] if t["exception_class_path"].endswith("WorkerLost")]
    # `exoderm worker` names itself at random: host-a's is the one its lost task names
    dead = {w for t in lost_tasks for w in t["worker_ids"]}
    successful = [t for t in state["tasks"] if t["status"] == "SUCCESSFUL"]
    by_host = {
        "host-a": sum(1 for t in successful if dead & set(t["worker_ids"])),
        "host-b": sum(1 for t in successful if not dead & set(t["worker_ids"])),
    }
    return {
        "photos": len(counts),
        "once": counts.count(1),
        "lost": counts.count(0),
        "duplicated": sum(1 for c in counts if c > 1),
        "failed": sum(1 for p in state["photos"].values() if p["status"] == "failed"),
        "analysed_at_kill": analysed_at_kill,
        "taken_over_s": taken_over,
        "seconds": seconds,
        "worker_lost": len(lost_tasks),
        "by_host": by_host,
    }


# --- (a), (b) the request loop ---------------------------------------------------------------------


@dataclass
class Answer:
    kind: str  # "page" or "api"
    path: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection refused or reset); -1: a hang
    problem_json: bool = False


@dataclass
class Loop:
    """Concurrent clients asking pages (a signed-in clinician) and the API (a token) until stopped."""

    base: str
    cookie: str
    token: str
    patients: list[int]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def requests(self) -> list[tuple[str, str]]:
        patient = random.choice(self.patients)
        return [
            ("page", "/"),
            ("page", "/patients/"),
            ("page", f"/patients/{patient}/"),
            ("api", "/api/v1/patients"),
            ("api", f"/api/v1/photos?patient={patient}"),
        ]

    def client(self) -> None:
        while not self.stop.is_set():
            kind, path = random.choice(self.requests())
            headers = {"Cookie": self.cookie} if kind == "page" else {"Authorization": f"Bearer {self.token}"}
            request = urllib.request.Request(f"{self.base}{path}", headers=headers)
            started = time.monotonic()
            problem = False
            try:
                with urllib.request.urlopen(request, timeout=HANG_SECONDS) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
                problem = error.headers.get("Content-Type") == "application/problem+json"
                error.read()
            except TimeoutError:
                status = -1
            except OSError as error:
                status = -1 if "timed out" in str(error) else 0
            self.answers.append(Answer(kind, path, started, time.monotonic(), status, problem))
            time.sleep(random.uniform(0.05, 0.25))

    def run(self, seconds: float, fault: threading.Thread) -> None:
        clients = [threading.Thread(target=self.client) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        fault.start()
        time.sleep(seconds)
        self.stop.set()
        fault.join()
        for thread in clients:
            thread.join()


def tally(answers: list[Answer]) -> dict:
    statuses = [a.status for a in answers]
    api_503 = [a for a in answers if a.kind == "api" and a.status == 503]
    return {
        "requests": len(answers),
        "ok": statuses.count(200),
        "503": statuses.count(503),
        "api_503_problem": sum(1 for a in api_503 if a.problem_json),
        "api_503": len(api_503),
        "other": sum(1 for s in statuses if s not in (200, 503, -1)),
        "other_statuses": sorted({s for s in statuses if s not in (200, 503, -1)}),
        "hangs": statuses.count(-1),
        "p50_ms": 1000 * statistics.median(a.ended - a.started for a in answers),
        "max_ms": 1000 * max(a.ended - a.started for a in answers),
    }


def recovery_seconds(answers: list[Answer], faults_at: list[float]) -> list[float]:
    """For each fault: the time until the first request sent after it was served."""
    out = []
    for at in faults_at:
        served = [a.ended for a in answers if a.started >= at and a.status == 200]
        if served:
            out.append(min(served) - at)
    return out


def terminate_sessions(url: str) -> int:
    """End every session of the site's own database but this one (its ``datname`` only)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def drill_terminations(loop: Loop, url: str) -> dict:
    faults_at: list[float] = []
    ended: list[int] = []

    def fault() -> None:
        while not loop.stop.wait(TERMINATE_EVERY):
            faults_at.append(time.monotonic())
            ended.append(terminate_sessions(url))

    loop.run(DRILL_SECONDS, threading.Thread(target=fault))
    recovered = recovery_seconds(loop.answers, faults_at)
    return {
        **tally(loop.answers),
        "faults": len(faults_at),
        "sessions_ended": sum(ended),
        "recover_median_s": statistics.median(recovered),
        "recover_max_s": max(recovered),
        "recovered": len(recovered),
    }


def drill_lock(loop: Loop, url: str) -> dict:
    import psycopg

    window: list[float] = []

    def fault() -> None:
        loop.stop.wait(5)
        with psycopg.connect(url) as other:
            other.execute("LOCK TABLE patients_patient IN ACCESS EXCLUSIVE MODE")
            window.append(time.monotonic())
            time.sleep(LOCK_SECONDS)
            other.rollback()
            window.append(time.monotonic())

    loop.run(LOCK_SECONDS + 15, threading.Thread(target=fault))
    inside = [a for a in loop.answers if window[0] <= a.started < window[1]]
    blocked = [a for a in inside if a.status == 503]
    return {
        **tally(loop.answers),
        "inside": tally(inside),
        "blocked_wait_ms": [1000 * (a.ended - a.started) for a in blocked],
        "recover_s": recovery_seconds(loop.answers, [window[1]])[0],
    }


def sign_in(base: str, username: str, password: str) -> str:
    """The session cookie of a clinician signed in through the login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/", timeout=60).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf, "no CSRF token on the login page"
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf.group(1)}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/login/", data=form, headers={"Referer": f"{base}/login/"}))
    session = {c.name: c.value for c in jar}
    assert "sessionid" in session, "the clinician was not signed in"
    return "; ".join(f"{name}={value}" for name, value in session.items())


# --- (d) a full photo volume ------------------------------------------------------------------------


def upload(base: str, token: str, patient: int, data: bytes) -> tuple[int, str]:
    boundary = uuid.uuid4().hex
    fields = {"patient": str(patient), "view": "close_up", "timepoint": "follow_up", "area": "cheek_left",
              "mm_per_px": "0.05"}  # fmt: skip
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="closeup.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base}/api/v1/photos",
        data=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def drill_volume(root: Path, site: dict, url: str) -> dict:
    import psycopg

    volume = root / "volume"
    volume.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={VOLUME_KB}k", "tmpfs", str(volume)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        return {"unavailable": mounted.stderr.strip() or "mount failed"}
    files = phantom_pngs(UPLOADS + 1)
    try:
        media = volume / "media"
        serving = {"DATABASE_URL": url, "MEDIA_ROOT": str(media)}
        with exoderm_serve(root, workers=2, log=root / "server-volume.log", **serving) as base:
            token = api(
                base, "/api/v1/auth/token", body={"username": site["username"], "password": site["password"]}
            )["token"]
            results: list[tuple[int, str]] = []
            threads = [
                threading.Thread(
                    target=lambda d=d: results.append(upload(base, token, site["photo_patient"], d))
                )
                for d in files[:UPLOADS]
            ]
            for start in range(0, UPLOADS, 4):  # four at a time, as a few clinic rooms uploading at once
                for thread in threads[start : start + 4]:
                    thread.start()
                for thread in threads[start : start + 4]:
                    thread.join()
            stored = [json.loads(body)["id"] for status, body in results if status == 201]
            refused = [
                body for status, body in results if status == 422 and "The photo store is full" in body
            ]
            other = sorted(status for status, body in results if status != 201 and not (
                status == 422 and "The photo store is full" in body))  # fmt: skip
            with psycopg.connect(url) as db:
                rows = db.execute(
                    "SELECT id, file_name FROM photos_photo WHERE patient_id = %s AND id <> ALL(%s)",
                    (site["photo_patient"], site["archive_ids"]),
                ).fetchall()
            photo_root = media / "photos"
            on_volume = {str(p.relative_to(photo_root)) for p in photo_root.rglob("*") if p.is_file()} - {
                str(p.relative_to(photo_root)) for p in (photo_root / ".derived").rglob("*")
            }
            in_flight = [p for p in (photo_root / ".tmp").rglob("*") if p.is_file()]
            free_kb = os.statvfs(volume).f_bavail * os.statvfs(volume).f_frsize // 1024
            # the operator grows the volume while exoderm runs: the next upload is stored
            grown = time.monotonic()
            subprocess.run(["mount", "-o", "remount,size=64m", str(volume)], check=True)
            status, _body = upload(base, token, site["photo_patient"], files[UPLOADS])
            recovered_s = time.monotonic() - grown
    finally:
        subprocess.run(["umount", str(volume)], check=True)
    return {
        "size_kb": len(files[0]) // 1024,
        "uploads": UPLOADS,
        "stored": len(stored),
        "refused_full": len(refused),
        "other": other,
        "rows": len(rows),
        "rows_match": sorted(r[0] for r in rows) == sorted(stored),
        "files_match": on_volume == {r[1] for r in rows},
        "stray_files": len(on_volume - {r[1] for r in rows}),
        "in_flight_left": len(in_flight),
        "free_kb": free_kb,
        "after_growing": status,
        "recovered_s": recovered_s,
    }


# --- the site ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", required=True, help="a PostgreSQL database of its own")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the drills need root: UTS namespaces for the two hosts, a tmpfs for the volume")
    url = args.postgres
    with tempfile.TemporaryDirectory(prefix="exoderm-faults-") as tmp:
        root = Path(tmp) / "site"
        _scenario.use_postgres(root, url)
        _scenario.run(root, "manage.py", "migrate", "--skip-checks", "-v", "0")
        _scenario.run(root, "-m", "bench.reanalysis", "seed", str(ARCHIVE), str(ARCHIVE_SIDE))
        site = json.loads(
            _scenario.run(root, "-m", "bench.faults", "seed", str(root)).strip().splitlines()[-1]
        )
        hosts = drill_hosts(root)
        print("hosts", hosts, flush=True)
        serving = {
            "DATABASE_URL": url,
            "DB_CONN_MAX_AGE": "60",
            "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        }
        with exoderm_serve(root, workers=2, log=root / "server.log", **serving) as base:
            token = api(
                base, "/api/v1/auth/token", body={"username": site["username"], "password": site["password"]}
            )["token"]
            cookie = sign_in(base, site["username"], site["password"])
            restarts = drill_terminations(Loop(base, cookie, token, site["patients"]), url)
            print("terminations", restarts, flush=True)
            slow = drill_lock(Loop(base, cookie, token, site["patients"]), url)
            print("lock", slow, flush=True)
        volume = drill_volume(root, site, url)
        print("volume", volume, flush=True)
    body = report(hosts, restarts, slow, volume)
    print(body)
    write_section("faults", body)
    return 0


def report(hosts: dict, restarts: dict, slow: dict, volume: dict) -> str:
    def answers(t: dict) -> str:
        other = f" ({', '.join(map(str, t['other_statuses']))})" if t["other_statuses"] else ""
        return f"{t['requests']} | {t['ok']} | {t['503']} | {t['other']}{other} | {t['hangs']}"

    inside = slow["inside"]
    waits = slow["blocked_wait_ms"]
    if "unavailable" in volume:
        volume_text = f"Not run: a tmpfs could not be mounted ({volume['unavailable']})."
    else:
        volume_text = f"""A {VOLUME_KB / 1024:g} MiB tmpfs as the photo volume (`MEDIA_ROOT`) of
`exoderm serve --workers 2`; {volume["uploads"]} distinct {volume["size_kb"]} kB PNG close-ups uploaded
through the API, four at a time:
**{volume["stored"]} stored (201), {volume["refused_full"]} refused with 422 "The photo store is full"**,
other answers: {volume["other"] or "none"}. Afterwards {volume["rows"]} photo rows for
{volume["stored"]} stored answers (rows and answers {"match" if volume["rows_match"] else "DIFFER"}),
the stored files on the volume are {"exactly" if volume["files_match"] else "NOT"} those rows' files
({volume["stray_files"]} stray), {volume["in_flight_left"]} upload(s) left half-written in `.tmp/`;
{volume["free_kb"]} kB were left free. The volume was then grown to 64 MiB while the server ran
(`mount -o remount`): the next upload answered {volume["after_growing"]}, {volume["recovered_s"]:.1f} s after
the remount, without a restart of exoderm."""
    return f"""## Fault drills (`bench/faults.py`)

PostgreSQL on this machine (the drill's own database; sessions of other databases untouched, the
server never restarted). Answers: 200, 503 (the API's as `application/problem+json`), other
errors (status, or 0 for no HTTP answer), hangs (no answer within {HANG_SECONDS:.0f} s).

**(a) PostgreSQL drops all connections under load.** {CLIENTS} concurrent clients (a signed-in
clinician on Today, the patient list and patient pages; an API token on the patient and photo
lists) against `exoderm serve --workers 2` (`DB_CONN_MAX_AGE=60`) for {DRILL_SECONDS} s; every
{TERMINATE_EVERY:.0f} s every session of the database is terminated ({restarts["faults"]} times,
{restarts["sessions_ended"]} sessions ended in all).

| requests | 200 | 503 | other errors | hangs |
| --- | --- | --- | --- | --- |
| {answers(restarts)} |

Answer times over the drill: median {restarts["p50_ms"]:.0f} ms, the slowest {restarts["max_ms"]:.0f} ms.
The sessions ended are the server processes' connections, kept between requests
(`DB_CONN_MAX_AGE`): a request on a connection ended while idle answers 503, the next one connects
anew. {restarts["api_503_problem"]} of {restarts["api_503"]} API 503s were problem+json. Time from a
termination to the next request served: median {restarts["recover_median_s"]:.2f} s, at most
{restarts["recover_max_s"]:.2f} s ({restarts["recovered"]} of {restarts["faults"]} terminations followed by a
served request; no restart of exoderm).

**(b) A slow database.** The same load, `DB_STATEMENT_TIMEOUT_MS={STATEMENT_TIMEOUT_MS}`; another session
holds an exclusive lock on the patients table for {LOCK_SECONDS:.0f} s (longer than the timeout).
Requests sent while the lock was held:

| requests | 200 | 503 | other errors | hangs |
| --- | --- | --- | --- | --- |
| {answers(inside)} |

The blocked requests answered 503 after {min(waits, default=0):.0f} to {max(waits, default=0):.0f} ms
(median {statistics.median(waits) if waits else 0:.0f} ms): after the statement timeout, not after the lock.
After the lock was released the next request was served {slow["recover_s"]:.2f} s later. Over the whole
drill: {slow["requests"]} requests, {slow["hangs"]} hangs, the slowest answer {slow["max_ms"]:.0f} ms.

**(c) Two hosts, one worker killed mid-run.** {hosts["photos"]} stored photos
({ARCHIVE_SIDE * 4 // 3} x {ARCHIVE_SIDE} px) queued by `exoderm manage reanalyze`, analysed by
`exoderm worker` on two hosts (each in its own UTS namespace with its own host name and working
directory; heartbeat {HEARTBEAT_SECONDS} s, recovery turn every {RECOVERY_SECONDS} s). host-a was SIGKILLed
inside an analysis after {hosts["analysed_at_kill"]} analyses and not restarted; host-b took its photo
over {hosts["taken_over_s"]:.1f} s after the kill ({hosts["worker_lost"]} task(s) marked `WorkerLost`) and
finished the archive ({hosts["seconds"]:.0f} s in all; successful tasks host-a {hosts["by_host"]["host-a"]},
host-b {hosts["by_host"]["host-b"]}). **Analysed exactly once: {hosts["once"]}, lost: {hosts["lost"]},
duplicated: {hosts["duplicated"]}** (failed: {hosts["failed"]}).

**(d) The photo volume full.** {volume_text}
"""


# --- run inside the site's own process -----------------------------------------------------------


def _seed() -> dict:
    """A clinician with a known password and patients; the archive's patient (who consented to
    photography) takes the drill's uploads."""
    from tests import factories

    from exoderm.photos.models import Photo

    archive = Photo.objects.select_related("patient__clinic").first()
    assert archive is not None, "seed the archive first"
    clinic = archive.patient.clinic
    user = factories.UserFactory(clinic=clinic, role="clinician", username="drill")
    # this process's factory sequences start again at 0: past the archive's patient
    factories.PatientFactory.reset_sequence(1000)
    factories.PatientIdentityFactory.reset_sequence(1000)
    patients = [archive.patient.pk, *(factories.PatientFactory(clinic=clinic).pk for _ in range(40))]
    return {
        "username": user.username,
        "password": factories.PASSWORD,
        "patients": patients,
        "photo_patient": archive.patient.pk,
        "archive_ids": list(Photo.objects.values_list("pk", flat=True)),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "seed":
        _scenario._setup()
        print(json.dumps(_seed()))
    else:
        sys.exit(main())
