from __future__ import annotations

from pathlib import Path

from django.conf import settings


def stored_files() -> list[Path]:
    """Every file under the photo storage, temporary ones included."""
    root = Path(settings.MEDIA_ROOT) / "photos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
