"""Re-analysis of an archive: photos per minute with one and two workers, the per-photo cost as a
ratio to decoding the same file, and the projection to a million 12 MP photos.

Run: ``python -m bench.reanalysis [--photos N] [--side PX] [--postgres URL]`` (about 4 minutes with
the defaults on two shared cores; ``--photos 3000`` about 20).

One site is made in a temporary directory: a file SQLite database (WAL, as in production) or, with
``--postgres``, that PostgreSQL database (emptied first: give it one of its own), and
``--photos`` phantom close-ups of ``4/3·side`` x ``side`` pixels stored as JPEG through the real
upload service, then their analysis tasks removed: an archive of photos without a result of the
running engine version. For one and then two workers: `exoderm manage reanalyze` starts the run
and queues it (timed), that many ``manage.py db_worker`` processes work it off, the database is
polled until every photo has its result; the results are then removed for the next round.

The per-photo cost is worker-seconds per photo (workers x wall time / photos, warm: from the first
result on), as a ratio to decoding the same stored JPEG with libjpeg-turbo, which a child process
measures on the same files right after (median). The projection to 1,000,000 photos takes the
12 MP analysis cost from the ``skinlab-speed`` section of docs/benchmarks.md and adds the per-photo
overhead measured here (task, database, storage: worker time per photo minus the engine's own).

Results go to the ``reanalysis`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.photos import _scenario  # noqa: E402

from bench._report import REPORT, write_section  # noqa: E402

PROJECTED_PHOTOS = 1_000_000
PROJECTED_WORKERS = (1, 2, 8, 32)


def _count(root: Path) -> tuple[int, int]:
    """(photos with a result, photos whose analysis failed), in one snapshot."""
    with _scenario.snapshot(root) as query:
        ((done,),) = query("SELECT COUNT(*) FROM photos_analysis")
        ((failed,),) = query("SELECT COUNT(*) FROM photos_photo WHERE analysis_status = 'failed'")
    return done, failed


def work(root: Path, workers: int, photos: int) -> dict[str, float]:
    """Re-analyse the archive with ``workers`` workers; timings of the queuing and the analyses."""
    _scenario.run(root, "-m", "bench.reanalysis", "reset", str(root))
    out = _scenario.run(root, "manage.py", "reanalyze", "--skip-checks")
    match = re.search(rf"queued {photos} photo\(s\) in ([0-9.]+) s", out)
    assert match, out
    queued_s = float(match.group(1))
    started = time.monotonic()
    procs = [_scenario.start_worker(root, f"bench-{workers}-{i}") for i in range(workers)]
    first_at, first_count = None, 0
    try:
        while True:
            done, failed = _count(root)
            now = time.monotonic()
            if first_at is None and done:
                first_at, first_count = now, done
            if done + failed >= photos:
                break
            if now - started > 1800:
                raise TimeoutError((done, failed))
            time.sleep(0.25)
        ended = time.monotonic()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    assert first_at is not None and failed == 0
    with _scenario.snapshot(root) as query:
        engine = statistics.median(float(s) for (s,) in query("SELECT seconds FROM photos_analysis"))
    warm = (photos - first_count) / (ended - first_at)
    return {
        "queued_s": queued_s,
        "total_per_min": 60 * photos / (ended - started),
        "warm_per_min": 60 * warm,
        "worker_s_per_photo": workers / warm,
        "engine_s": engine,
    }


def twelve_mp_analysis_seconds() -> float:
    """The CPU time of a full 12 MP face analysis, as bench/skinlab_speed.py last recorded it."""
    text = REPORT.read_text()
    section = text[text.index("<!-- begin skinlab-speed -->") :]
    match = re.search(r"\| full `analyze\(\)` including decode \| (\d+) ms \| (\d+) ms \|", section)
    if match is None:
        raise SystemExit("run bench/skinlab_speed.py first: its 12 MP analysis time is projected here")
    return int(match.group(2)) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--side", type=int, default=240, help="photo height in pixels (width = 4/3)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database of its own (emptied)")
    args = parser.parse_args(argv)
    per_12mp = twelve_mp_analysis_seconds()
    with tempfile.TemporaryDirectory(prefix="exoderm-bench-") as tmp:
        root = Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.postgres:
            _scenario.use_postgres(root, args.postgres)
        _scenario.run(root, "manage.py", "migrate", "--skip-checks", "-v", "0")
        seeding = time.monotonic()
        _scenario.run(root, "-m", "bench.reanalysis", "seed", str(args.photos), str(args.side))
        seeding = time.monotonic() - seeding
        results = {n: work(root, n, args.photos) for n in (1, 2)}
        load = os.getloadavg()[1]  # the 5-minute load average: the other jobs on the machine
        out = _scenario.run(root, "-m", "bench.reanalysis", "decode", "200")
        decode = json.loads(out.strip().splitlines()[-1])
    database = "PostgreSQL database on this machine" if args.postgres else "file SQLite database"
    body = report(args.photos, args.side, database, seeding, results, decode, per_12mp, load)
    print(body)
    write_section("reanalysis", body)
    return 0


def report(
    photos: int,
    side: int,
    database: str,
    seeding: float,
    results: dict[int, dict[str, float]],
    decode: dict,
    per_12mp: float,
    load: float,
) -> str:
    rows = "\n".join(
        f"| {n} | {r['queued_s']:.1f} | {r['total_per_min']:.0f} | {r['warm_per_min']:.0f} "
        f"| {1000 * r['worker_s_per_photo']:.0f} | {r['worker_s_per_photo'] / decode['decode_s']:.0f}x "
        f"| {1000 * r['engine_s']:.0f} |"
        for n, r in results.items()
    )
    one, two = results[1], results[2]
    # what a worker spends per photo besides the engine: task claim, database, storage, decryption
    overhead = one["worker_s_per_photo"] - one["engine_s"]
    per_photo = per_12mp + overhead
    projection = "\n".join(
        f"| {n} | {PROJECTED_PHOTOS * per_photo / n / 3600:.1f} "
        f"| {PROJECTED_PHOTOS * per_photo / n / 86400:.1f} |"
        for n in PROJECTED_WORKERS
    )
    queue_rate = photos / one["queued_s"]
    return f"""## Re-analysis of an archive (`bench/reanalysis.py`)

{photos} stored phantom close-ups of {side * 4 // 3} x {side} px (JPEG, {decode["kb"]:.0f} kB each on
average, sealed in the photo store; one uploaded through the service, the others its rows' clones
each its own file, seeded in {seeding:.0f} s), in a
{database}, without a result of the running engine version. `exoderm manage reanalyze`
starts the run and queues every photo (one transaction per 500), then `db_worker` processes work it
off; measured on a machine with 2 cores **shared with other jobs** while it ran, so the rates are
what this machine gave then, not its capacity (5-minute load average at the end: {load:.1f} on
{os.cpu_count()} CPUs).

| workers | queuing s | photos/min from start | photos/min warm | worker ms/photo | x decode | engine ms |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

"x decode": worker time per photo (workers x wall time / photos, warm) against decoding the same
stored JPEGs with libjpeg-turbo ({1000 * decode["decode_s"]:.2f} ms, median of {decode["files"]}, in a
child process on the same files); engine ms: the median of the engine's own time per photo.
Two workers give {two["warm_per_min"] / one["warm_per_min"]:.2f}x the
warm rate of one. At these small photos most of a worker's time is not the engine
({1000 * one["engine_s"]:.0f} ms of {1000 * one["worker_s_per_photo"]:.0f} ms): claiming the task, reading
and writing the rows, reading and decrypting the file — {1000 * overhead:.0f} ms per photo.
The queuing ran at {queue_rate:.0f} photos/s (as the command reports it: its start-up not included).

**Projection to {PROJECTED_PHOTOS:,} photos of 12 MP.** A 12 MP face photo costs {1000 * per_12mp:.0f} ms of
CPU for the analysis (`skinlab-speed` section above), plus the {1000 * overhead:.0f} ms per photo
measured here: {per_photo:.2f} s of one core per photo. Workers scale with cores (one worker per core;
the rate of two workers above is bounded by the two shared cores), so:

| workers (cores) | hours | days |
| --- | --- | --- |
{projection}

Queuing a million photos at the rate measured here takes
{PROJECTED_PHOTOS / queue_rate / 60:.0f} minutes (it runs while the workers already analyse; the
queue is at a lower priority than new uploads, so the clinics' new photos do not wait behind it).
On PostgreSQL the task claim uses `SKIP LOCKED`, so workers on several hosts do not wait for each other.
"""


# --- run inside the site's own process -----------------------------------------------------------


def _seed(photos: int, side: int) -> None:
    """One photo uploaded through the service, the rest of the archive cloned from its row.

    Uploads fsync two files each and take more than a second on a shared disk: a few thousand would
    take longer than the whole measurement. The clones are real stored photos all the same: each
    its own phantom (its own seed), JPEG-encoded as the upload re-encodes, sealed with the clinic's
    key under its content address, with a row as the upload writes it.
    """
    import hashlib

    from django_tasks_db.models import DBTaskResult
    from PIL import Image
    from tests import factories

    from exoderm.consent.models import ConsentKind
    from exoderm.photos import storage
    from exoderm.photos.models import Photo
    from exoderm.photos.services import upload_photo
    from exoderm.skinlab.phantom import make_phantom

    # a few phantoms (each takes a while to draw), every photo one of them with its own number
    # written into a corner, so that every file is different
    phantoms = [make_phantom(shape=(side, side * 4 // 3), mm_per_px=0.05, seed=seed).rgb for seed in range(8)]

    def jpeg(number: int) -> bytes:
        pixels = phantoms[number % len(phantoms)].copy()
        pixels[0, :32] = [[(number >> bit & 1) * 255] * 3 for bit in range(32)]
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "JPEG", quality=90)
        return out.getvalue()

    clinic = factories.ClinicFactory()
    user = factories.UserFactory(clinic=clinic, role="clinician")
    patient = factories.PatientFactory(clinic=clinic)
    template = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY)
    factories.ConsentRecordFactory(patient=patient, template=template, recorded_by=user)
    first, _ = upload_photo(
        patient=patient, chunks=[jpeg(0)], view="close_up", area="cheek_left", timepoint="follow_up",
        mm_per_px=0.05, by=user,
    )  # fmt: skip
    clones = []
    for seed in range(1, photos):
        data = jpeg(seed)
        sha256 = hashlib.sha256(data).hexdigest()
        name = storage.relative_name(clinic_id=clinic.pk, sha256=sha256, extension="jpg")
        storage.path_of(name).parent.mkdir(parents=True, exist_ok=True)
        storage.write_sealed([data], storage.path_of(name), name=name)
        clone = Photo.objects.get(pk=first.pk)
        clone.pk = None
        clone.file_name, clone.sha256, clone.source_sha256 = name, sha256, sha256
        clone.size_bytes = clone.source_size = len(data)
        clones.append(clone)
    Photo.objects.bulk_create(clones, batch_size=500)
    DBTaskResult.objects.all().delete()  # an archive: no analysis waiting


def _reset() -> None:
    """Back to an archive without results of the running version (before each round)."""
    from django_tasks_db.models import DBTaskResult

    from exoderm.photos.models import Analysis, AnalysisStatus, Photo, Reanalysis

    Analysis.with_trashed.all().delete()
    Reanalysis.objects.all().delete()
    DBTaskResult.objects.all().delete()
    Photo.objects.update(analysis_status=AnalysisStatus.DONE, analysis_task_id="")


def _decode(files: int) -> dict[str, float]:
    import simplejpeg

    from exoderm.photos import storage
    from exoderm.photos.models import Photo

    blobs = [storage.read(name) for name in Photo.objects.values_list("file_name", flat=True)[:files]]
    for blob in blobs[:10]:  # warm-up
        simplejpeg.decode_jpeg(blob, colorspace="RGB")
    times = []
    for blob in blobs:
        started = time.perf_counter()
        simplejpeg.decode_jpeg(blob, colorspace="RGB")
        times.append(time.perf_counter() - started)
    return {
        "decode_s": statistics.median(times),
        "files": len(blobs),
        "kb": statistics.mean(map(len, blobs)) / 1024,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("seed", "reset", "decode"):
        _scenario._setup()
        if sys.argv[1] == "seed":
            _seed(int(sys.argv[2]), int(sys.argv[3]))
        elif sys.argv[1] == "reset":
            _reset()
        else:
            print(json.dumps(_decode(int(sys.argv[2]))))
    else:
        sys.exit(main())
