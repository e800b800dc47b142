"""The `exoderm` command: demo, setup, serve, worker, backup, restore, analyze, compare, and Django's
management commands."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    import django

    django.setup()


def manage(argv: list[str]) -> int:
    """Run one of Django's management commands (`exoderm manage migrate`, …)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["exoderm manage", *argv])
    return 0


def default_threads() -> int:
    """Request threads per server process: two per core and one, Granian's own advice for WSGI.

    Granian's default (half its backlog, 512) would let one process open as many database
    connections as PostgreSQL allows in all (100 by default) and hand SQLite's single writer
    hundreds of waiting threads; requests beyond the threads wait in Granian's queue instead.
    """
    return 2 * (os.cpu_count() or 1) + 1


def serve(host: str, port: int, workers: int, threads: int) -> int:
    """Serve the web pages and the API with Granian (WSGI)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
    from granian.constants import Interfaces
    from granian.server import Server

    Server(
        "exoderm.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        # Not `backpressure` as well: it limits connections, not requests, and the idle keep-alive
        # connections of a few browsers would then lock every other user out (bench/load.py
        # levelled off at 9 requests/s with ten connections served and the rest never accepted).
        blocking_threads=threads,
        workers_kill_timeout=5,  # a stop never waits forever for a hung request
    ).serve()
    return 0


def worker() -> int:
    """Run the background task worker (analyses, reminders) until interrupted."""
    # Analyses a killed worker left behind are queued again before this worker starts.
    manage(["photo_housekeeping"])
    # Messages to patients are queued by a periodic task: started here unless it is waiting already.
    manage(["messaging_housekeeping", "--schedule"])
    from django.conf import settings  # after Django is set up by manage()

    from exoderm.ops import heartbeat
    from exoderm.photos.tasks import finish_complete_reanalyses, recover_stalled

    # /readyz of every host sees that this worker lives; and while it waits for tasks it still
    # takes its turn at re-queueing the analyses of workers that died (else they wait for a restart)
    # and at closing the re-analyses that are complete
    every = settings.PHOTO_RECOVERY_SECONDS
    heartbeat.start(
        duties=(
            heartbeat.Duty("photos.recover_stalled", every, recover_stalled),
            heartbeat.Duty("photos.finish_reanalyses", every, finish_complete_reanalyses),
        )
    )
    return manage(["db_worker", "--queue-name", "default"])


def backup(dest: str) -> int:
    """Back up the database and the photo store into a new directory while the service runs."""
    _django_setup()
    from exoderm.backup import Refused, create_backup

    try:
        create_backup(Path(dest))
    except Refused as refusal:
        print(f"exoderm backup: {refusal}", file=sys.stderr)
        return 2
    return 0


def restore(src: str) -> int:
    """Restore a backup into the empty installation that the environment names, then verify it."""
    _django_setup()
    from exoderm.backup import Refused, VerificationFailed, restore_backup

    try:
        restore_backup(Path(src))
    except Refused as refusal:
        print(f"exoderm restore: refused: {refusal}", file=sys.stderr)
        return 2
    except VerificationFailed as failure:
        print(f"exoderm restore: VERIFICATION FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the process group ``process`` leads, unless it is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def demo(host: str, port: int) -> int:
    """Migrate the SQLite database, seed the demo clinic once, run the web server and one worker."""
    _django_setup()
    from django.core.management import call_command

    from exoderm.demo import DEMO_ADMIN_TOTP_SECRET, seed_demo

    call_command("migrate", interactive=False, verbosity=0)
    credentials = seed_demo()
    url = f"http://{host}:{port}/"
    print("\nexoderm demo")
    print(f"  open {url}  (API: {url}api/v1/docs)")
    for username, password, role in credentials:
        print(f"  {role:<13} {username:<10} password: {password}")
    print(f"  admin's second factor: add the secret {DEMO_ADMIN_TOTP_SECRET} to an authenticator app")
    print("  stop with Ctrl-C\n", flush=True)
    me = [sys.executable, "-m", "exoderm.cli"]
    # `kill <pid>` stops the demo as Ctrl-C does (Python's default for SIGTERM would end it at
    # once, leaving the server and worker running and the port taken)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Each child leads its own process group, so that stopping it also stops what it forked
    # (Granian's worker processes): an orphaned worker would keep the port.
    processes = [
        # the worker's line per task (hundreds while the demo's photos are analysed) would push
        # the sign-ins above off the screen; its warnings and failures still show
        subprocess.Popen(
            [*me, "worker"], start_new_session=True, env=os.environ | {"LOG_TASK_PROGRESS": "0"}
        ),
        subprocess.Popen([*me, "serve", "--host", host, "--port", str(port)], start_new_session=True),
    ]
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in processes:
            _signal_group(p, signal.SIGINT)
        # One shared grace period: a worker finishing its photo and the server draining together.
        # A second Ctrl-C (Granian itself invites one) cuts it short instead of a traceback.
        deadline = time.monotonic() + 10
        try:
            for p in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            print("exoderm demo: stopping at once", flush=True)
        for p in processes:
            if p.poll() is None:
                _signal_group(p, signal.SIGKILL)
                p.wait()
    return (
        max((p.returncode or 0) for p in processes)
        if any(p.returncode not in (0, None, -2) for p in processes)
        else 0
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="exoderm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("demo", demo.__doc__), ("serve", serve.__doc__)):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--host", default=os.getenv("EXODERM_HOST", DEFAULT_HOST))
        sub.add_argument("--port", type=int, default=int(os.getenv("EXODERM_PORT", DEFAULT_PORT)))
        if name == "serve":
            sub.add_argument("--workers", type=int, default=int(os.getenv("EXODERM_WEB_WORKERS", "1")))
            sub.add_argument(
                "--threads",
                type=int,
                default=int(os.getenv("EXODERM_WEB_THREADS", default_threads())),
                help="request threads per process (default: two per core and one)",
            )
    commands.add_parser("worker", help=worker.__doc__)
    commands.add_parser("backup", help=backup.__doc__).add_argument("dest", help="a new or empty directory")
    commands.add_parser("restore", help=restore.__doc__).add_argument("src", help="a backup directory")
    commands.add_parser("manage", help=manage.__doc__, add_help=False)
    commands.add_parser(
        "setup",
        help="Create a clinic and its first administrator (see `exoderm setup --help`).",
        add_help=False,
    )
    commands.add_parser(
        "analyze", help="Measure skin metrics of photos (see `exoderm analyze --help`).", add_help=False
    )
    commands.add_parser("compare", help="Compare a follow-up photo with its baseline.", add_help=False)

    known, rest = parser.parse_known_args(argv)
    if known.command == "manage":
        return manage(rest)
    if known.command == "setup":
        return manage(["setup", *rest])
    if known.command == "analyze":
        from exoderm.skinlab.cli import analyze_main

        return analyze_main(rest)
    if known.command == "compare":
        from exoderm.skinlab.cli import compare_main

        return compare_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if known.command == "demo":
        return demo(known.host, known.port)
    if known.command == "serve":
        return serve(known.host, known.port, known.workers, known.threads)
    if known.command == "backup":
        return backup(known.dest)
    if known.command == "restore":
        return restore(known.src)
    return worker()


if __name__ == "__main__":
    sys.exit(main())
