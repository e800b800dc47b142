"""Private modes for what holds patient data: directories 0700, files 0600."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path
from typing import Any


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode 0700 (``Path.mkdir(parents=True)`` would
    give the parents the umask's mode). Existing directories keep their mode."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process
            directory.mkdir(mode=0o700)
    return path


def _restrict(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)


def restrict_sqlite_file(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On every new SQLite connection: the database file (and its WAL and shared-memory files,
    which SQLite creates with the database file's mode) readable by the owner only. SQLite
    creates the file with the process umask; this runs right after the connection opened it."""
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    name = Path(connection.settings_dict["NAME"])
    for path in (name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")):
        _restrict(path)
