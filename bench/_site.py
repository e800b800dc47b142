"""What the benchmarks that drive a running site share: the JSON API client and distinct photos."""

from __future__ import annotations

import io
import json
import urllib.request


def api(base: str, path: str, *, token: str = "", body: dict | None = None) -> dict:
    """One JSON request to the API of the server at ``base`` (POST when there is a ``body``)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode() if body is not None else None, headers=headers
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def phantom_pngs(count: int) -> list[bytes]:
    """Distinct close-up phantoms (one pixel differs), so that each upload is a new photo."""
    import numpy as np
    from PIL import Image

    from exoderm.skinlab.phantom import make_phantom

    base = make_phantom(shape=(480, 640), mm_per_px=0.05, seed=7).rgb
    files = []
    for index in range(count):
        pixels = base.copy()
        pixels[0, 0] = np.array([index % 256, index // 256 % 256, 17], dtype=pixels.dtype)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "PNG")
        files.append(out.getvalue())
    return files
