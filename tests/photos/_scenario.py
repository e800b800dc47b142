"""A real deployment in miniature for worker tests and the benchmarks: a file SQLite database (or a
PostgreSQL database chosen with :func:`use_postgres`) and a media directory in ``root``, seeded
through the upload service, analysed by `db_worker` processes.

Seeding runs in its own process: ``python -m tests.photos._scenario seed ROOT N SIDE`` (N photos), or
``... clinician ROOT`` (a clinician and a consented patient, for the browser).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests._signals import interruptible

REPO = Path(__file__).resolve().parents[2]


def use_postgres(root: Path, url: str) -> None:
    """Make the site in ``root`` use the PostgreSQL database ``url``, emptied first (its own
    database: every table of it goes)."""
    import psycopg

    root.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")
    (root / "database-url").write_text(url)


def database_url(root: Path) -> str:
    chosen = root / "database-url"
    return chosen.read_text().strip() if chosen.exists() else f"sqlite:///{root / 'exoderm.sqlite3'}"


@contextlib.contextmanager
def snapshot(root: Path) -> Iterator[Callable[..., list[tuple]]]:
    """A function running queries (``%s`` placeholders) on the site's database, all in one snapshot
    (no Django start-up): a worker commits a photo's analysis and its status together, and two
    separate reads could see the status without the analysis."""
    url = database_url(root)
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)) as lite:
            lite.execute("BEGIN")
            yield lambda sql, *params: lite.execute(sql.replace("%s", "?"), params).fetchall()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield lambda sql, *params: db.execute(sql, params).fetchall()
        db.execute("ROLLBACK")


def environment(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="exoderm.settings",
        DATABASE_URL=database_url(root),
        EXODERM_DATA_DIR=str(root),
        MEDIA_ROOT=str(root / "media"),
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src"), env.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        GLOG_minloglevel="3",
    )
    return env


def run(root: Path, *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=environment(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(root: Path, photos: int, *, side: int = 600) -> list[int]:
    """Migrate a fresh database in ``root`` and upload ``photos`` phantom close-ups."""
    root.mkdir(parents=True, exist_ok=True)
    run(root, "manage.py", "migrate", "--skip-checks", "-v", "0")
    out = run(root, "-m", "tests.photos._scenario", "seed", str(root), str(photos), str(side))
    return json.loads(out.strip().splitlines()[-1])


def start_worker(root: Path, name: str) -> subprocess.Popen[bytes]:
    log = (root / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--queue-name", "default", "--interval", "0.1",
         "--no-startup-delay", "--no-reload", "--worker-id", name, "-v", "1"],
        cwd=REPO, env=environment(root), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def start_worker_on_host(
    root: Path, host: str, *, production: bool = False, **environment_: str
) -> subprocess.Popen[bytes]:
    """A worker on a host of its own: in its own UTS namespace with the host name ``host`` (so that
    it cannot look up another host's processes and must rely on the lease or the heartbeat), in its
    own working directory ``root/host``. ``production``: `exoderm worker` (heartbeat and duties)
    instead of a bare `db_worker`. Creating the namespace needs root."""
    home = root / host
    home.mkdir(exist_ok=True)
    log = (root / f"{host}.log").open("ab")
    if production:
        command = f"{sys.executable} -m exoderm.cli worker"
    else:
        command = (
            f"{sys.executable} {REPO / 'manage.py'} db_worker --queue-name default --interval 0.1 "
            f"--no-startup-delay --no-reload --worker-id {host} -v 1"
        )
    return subprocess.Popen(
        ["unshare", "--uts", "sh", "-c", f"hostname {host} && exec {command}"],
        cwd=home,
        env={**environment(root), **environment_},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    """Django's server (one process, no reloader) on the scenario's database, for the browser."""
    log = (root / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=REPO, env={**environment(root), "SECURE_COOKIES": "0"}, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=interruptible,  # the fixture stops it with SIGINT
    )  # fmt: skip


def status(root: Path) -> dict:
    """Photos, analyses and tasks, read straight from the database file (no Django start-up)."""
    from exoderm.skinlab import ENGINE_VERSION

    with snapshot(root) as query:
        per_photo = dict(
            query(
                "SELECT photo_id, COUNT(*) FROM photos_analysis WHERE engine_version = %s GROUP BY photo_id",
                ENGINE_VERSION,
            )
        )
        photos = dict(query("SELECT id, analysis_status FROM photos_photo"))
        tasks = [
            {
                "status": st,
                "exception_class_path": exc,
                "worker_ids": json.loads(workers),
                "return_value": json.loads(value) if value else None,
            }
            for st, exc, workers, value in query(
                # as text on both databases (PostgreSQL's driver would decode jsonb itself)
                "SELECT status, exception_class_path, CAST(worker_ids AS TEXT), CAST(return_value AS TEXT) "
                "FROM django_tasks_database_dbtaskresult"
            )
        ]
    return {
        "photos": {str(pk): {"status": st, "analyses": per_photo.get(pk, 0)} for pk, st in photos.items()},
        "finished": sum(1 for st in photos.values() if st in ("done", "failed")),
        "running": sum(1 for st in photos.values() if st == "running"),
        "analyses": sum(per_photo.values()),
        "tasks": tasks,
    }


def wait_until_analysed(root: Path, count: int, *, timeout: float) -> tuple[dict, float]:
    """Poll until ``count`` photos are done or failed; returns the last status and the seconds it took."""
    start = time.monotonic()
    while True:
        state = status(root)
        if state["finished"] >= count:
            return state, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not analysed after {timeout} s: {state}")
        time.sleep(0.2)


# --- run inside the scenario's own process -------------------------------------------------------


def _setup() -> None:
    sys.path[:0] = [str(REPO), str(REPO / "src")]
    import django

    django.setup()


def _seed(photos: int, side: int) -> list[int]:
    from PIL import Image

    from exoderm.consent.models import ConsentKind
    from exoderm.photos.services import upload_photo
    from exoderm.skinlab.phantom import make_phantom
    from tests import factories

    clinic = factories.ClinicFactory()
    user = factories.UserFactory(clinic=clinic, role="clinician")
    patient = factories.PatientFactory(clinic=clinic)
    template = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY)
    factories.ConsentRecordFactory(patient=patient, template=template, recorded_by=user)
    ids = []
    for seed in range(photos):
        phantom = make_phantom(shape=(side, side * 4 // 3), mm_per_px=0.05, seed=seed)
        out = io.BytesIO()
        Image.fromarray(phantom.rgb).save(out, "PNG")
        photo, _ = upload_photo(
            patient=patient, chunks=[out.getvalue()], view="close_up", area="cheek_left",
            timepoint="follow_up", mm_per_px=0.05, by=user,
        )  # fmt: skip
        ids.append(photo.pk)
    return ids


def _seed_clinician() -> dict:
    """A clinic with one clinician and one patient who consented to photography (language English)."""
    from exoderm.consent.models import ConsentKind
    from tests import factories

    clinic = factories.ClinicFactory(name="Hautzentrum Mitte")
    user = factories.UserFactory(clinic=clinic, role="clinician", language="en")
    patient = factories.PatientFactory(clinic=clinic, identity__language="en")
    template = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY)
    factories.ConsentRecordFactory(patient=patient, template=template, recorded_by=user)
    return {"username": user.username, "password": factories.PASSWORD, "patient": patient.pk}


if __name__ == "__main__":
    _setup()
    if sys.argv[1] == "seed":
        print(json.dumps(_seed(int(sys.argv[3]), int(sys.argv[4]))))
    elif sys.argv[1] == "clinician":
        print(json.dumps(_seed_clinician()))
    elif sys.argv[1] == "requeue":  # queue every photo's analysis again, N times
        from exoderm.photos.models import Photo
        from exoderm.photos.tasks import enqueue_analysis

        for photo_id in Photo.objects.order_by("pk").values_list("pk", flat=True):
            for _ in range(int(sys.argv[3])):
                enqueue_analysis(photo_id)
