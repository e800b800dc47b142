"""skinlab per skin type: accuracy, repeatability and the faintest spot and redness, Fitzpatrick I-VI.

Rewrites the ``skinlab-skin-types`` section of docs/benchmarks.md, from the repository root (about
five minutes on the shared 2 cores)::

    uv run python -m bench.skinlab_skin_types [--seeds 4] [--captures 8] [--no-write]

Every phantom is ``make_phantom(skin_type=...)``: the type's base L*a*b*
(:data:`exoderm.skinlab.phantom.FITZPATRICK_LAB`) and features whose contrast falls with the
skin's lightness (:func:`exoderm.skinlab.phantom.skin_contrast`, 0.6 of the default on type VI).

1. **Accuracy.** ``--seeds`` designs per type (25 spots, 10 wrinkles, 3 red patches, 1200 x 1600 px
   at 0.05 mm/px, no pores), each captured with :meth:`Perturbation.mild` (noise SD 2, blur σ 0.6 px,
   JPEG 90) and measured against the ground truth, with the issue's targets, the same for every type.
2. **Repeatability.** Design 0 of each type captured ``--captures`` times with
   :meth:`Perturbation.random` (exposure ±10 %, white balance ±5 %, noise, blur, rotation, shift,
   JPEG 85-95), measured in the frame minus a 40 px border: CV per metric.
3. **Faintest spot and redness.** Per type, designs whose spots all have the same ΔL* (or whose red
   patches all have the same peak Δa*) at the type's base colour (``feature_contrast=1``, so the
   contrast is exactly the one named), 600 x 800 px at 0.05 mm/px, two designs each: the smallest
   contrast at which both are measured within the targets (spot count ±5 % and area ±10 %; red
   area ±10 %). The relative darkening it takes, 1 − Y_spot / Y_skin, shows what that is in
   pigment: the same ΔL* is a larger change of reflectance on darker skin.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from bench._report import write_section  # noqa: E402
from exoderm.skinlab import ENGINE_VERSION  # noqa: E402
from exoderm.skinlab.metrics import measure_regions  # noqa: E402
from exoderm.skinlab.phantom import FITZPATRICK_LAB, Perturbation, make_phantom, skin_contrast  # noqa: E402

TYPES = tuple(FITZPATRICK_LAB)
#: Metric, its truth attribute and the issue's target (relative error), the same for every type.
TARGETS = (
    ("spot_count", "spot_count", 0.05),
    ("spot_area_mm2", "spot_area_mm2", 0.10),
    ("wrinkle_count", "wrinkle_count", 0.10),
    ("wrinkle_length_mm", "wrinkle_length_mm", 0.15),
    ("red_area_pct", "red_area_pct", 0.10),
)
REPEAT_KEYS = (
    "spot_count",
    "spot_area_mm2",
    "wrinkle_count",
    "wrinkle_length_mm",
    "red_area_pct",
    "texture_rms",
)
SPOT_DEPTHS = (3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 10.0, 12.0)
RED_PEAKS = (4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 10.0, 12.0)
SWEEP_SEEDS = (0, 1)
SWEEP = {"shape": (600, 800), "wrinkles": 0, "pores": 0, "feature_contrast": 1.0, "perturb": None}
FULL = {"spots": 25, "wrinkles": 10, "red_patches": 3, "pores": 0}
BORDER_PX = 40


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _measure(ph, mask: np.ndarray | None = None) -> dict:
    region = ph.mask if mask is None else ph.mask & mask
    return measure_regions(_lab(ph.rgb), {"r": region}, mm_per_px=ph.mm_per_px)["r"].metrics


def _accuracy_one(skin_type: str, seed: int) -> dict[str, float]:
    ph = make_phantom(seed=seed, skin_type=skin_type, perturb=Perturbation.mild(seed), **FULL)
    m = _measure(ph)
    return {key: (m[key] - getattr(ph.truth, attr)) / getattr(ph.truth, attr) for key, attr, _t in TARGETS}


def _repeat_one(skin_type: str, capture: int) -> dict[str, float]:
    ph = make_phantom(seed=0, skin_type=skin_type, perturb=Perturbation.random(1000 + capture), **FULL)
    inner = np.zeros(ph.mask.shape, bool)
    inner[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = True
    m = _measure(ph, inner)
    return {k: float(m[k]) for k in REPEAT_KEYS}


def _spot_ok(skin_type: str, depth: float, seed: int) -> bool:
    ph = make_phantom(
        seed=seed,
        skin_type=skin_type,
        spots=15,
        red_patches=0,
        spot_area_mm2=(1.0, 20.0),
        spot_depth=(depth, depth),
        **{**SWEEP, "perturb": Perturbation.mild(seed)},
    )
    m, t = _measure(ph), ph.truth
    return (
        abs(m["spot_count"] - t.spot_count) <= 0.05 * t.spot_count
        and abs(m["spot_area_mm2"] - t.spot_area_mm2) <= 0.10 * t.spot_area_mm2
    )


def _red_ok(skin_type: str, peak: float, seed: int) -> bool:
    ph = make_phantom(
        seed=seed,
        skin_type=skin_type,
        spots=0,
        red_patches=3,
        red_peak_da=(peak, peak),
        **{**SWEEP, "perturb": Perturbation.mild(seed)},
    )
    m, t = _measure(ph), ph.truth
    return abs(m["red_area_pct"] - t.red_area_pct) <= 0.10 * t.red_area_pct


def _smallest(oks: dict[float, bool]) -> float | None:
    """The smallest contrast from which every larger one is measured to target."""
    found = None
    for c in sorted(oks, reverse=True):
        if not oks[c]:
            break
        found = c
    return found


def _relative_darkening(base_L: float, dL: float) -> float:
    """1 − Y_spot / Y_skin for a spot ``dL`` L* darker than skin of lightness ``base_L``."""
    return 1.0 - ((base_L - dL + 16.0) / (base_L + 16.0)) ** 3


def _ita(lab: tuple[float, float, float]) -> float:
    return math.degrees(math.atan((lab[0] - 50.0) / lab[2]))


def markdown(
    acc, rep, spot_min, red_min, seeds: int, captures: int, seconds: float, cpu_seconds: float
) -> str:
    lines = [
        "## skinlab per skin type (Fitzpatrick I-VI)",
        "",
        f"Reproduce: `uv run python -m bench.skinlab_skin_types` (engine {ENGINE_VERSION}; "
        f"{seconds:.0f} s wall, {cpu_seconds:.0f} s CPU, on a 2-core machine shared with other work "
        "while it ran). "
        "Phantoms `make_phantom(skin_type=...)`: the type's base colour, chosen inside its ITA° band "
        "(Chardon 1991 / Del Bino 2006 categories, I..VI as very light, light, intermediate, tan, "
        "brown, dark), and spots, wrinkles, pores and red patches whose ΔL*, Δa*, Δb* are the "
        "default phantom's times (L* + 16) / 80, the depth in L* units of the same change of "
        "reflectance (`skin_contrast`): 0.6 on type VI. Background texture and capture noise are "
        "the same on every type.",
        "",
        "| type | base L\\*a\\*b\\* | ITA° | feature contrast |",
        "| --- | --- | ---: | ---: |",
    ]
    for t in TYPES:
        lab = FITZPATRICK_LAB[t]
        colour = ", ".join(f"{v:.0f}" for v in lab)
        lines.append(f"| {t} | {colour} | {_ita(lab):+.1f} | {skin_contrast(lab[0]):.2f} |")
    lines += [
        "",
        f"### Accuracy ({seeds} designs per type, mild capture)",
        "",
        "25 spots, 10 wrinkles, 3 red patches, 1200 x 1600 px at 0.05 mm/px, noise SD 2, blur σ 0.6 px, "
        "JPEG 90. Worst absolute error % over the designs (mean error % in brackets); "
        "**bold** where the target, the same for every type, is missed.",
        "",
        "| type | " + " | ".join(f"`{k}` (±{round(100 * tg)} %)" for k, _a, tg in TARGETS) + " |",
        "| --- | " + " | ".join("---:" for _ in TARGETS) + " |",
    ]
    for t in TYPES:
        cells = []
        for key, _a, target in TARGETS:
            errs = [e[key] for e in acc[t]]
            worst = max(abs(e) for e in errs)
            cell = f"{100 * worst:.1f} ({100 * statistics.fmean(errs):+.1f})"
            cells.append(f"**{cell}**" if worst > target else cell)
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    missed = [
        f"{t} `{key}`"
        for t in TYPES
        for key, _a, target in TARGETS
        if max(abs(e[key]) for e in acc[t]) > target
    ]
    lines += [
        "",
        "Engine 1.4.0 scales every detection threshold with the local L\\* + 16 (reference 80, L\\* 64), "
        "as the features' contrast scales (`skin_contrast`), and joins a faint line's pieces across "
        "the breaks noise makes in it; the truth counts by the same relative thresholds. "
        + (
            "Every type meets every target."
            if not missed
            else "Missed: " + ", ".join(missed) + " (see `tests/skinlab/test_skin_types.py`)."
        )
        + " Engines up to 1.3.0 missed spots and red area on type VI (the fixed ΔL\\* ≤ −5 and "
        "Δa\\* ≥ +6 lay inside the type's contrasts) and split or missed wrinkles on III-VI "
        "(worst count errors 11.1, 11.1, 33.3 and 40.0 %, VI length 39.2 %); "
        "`docs/engine-changelog.md`, 1.4.0, has the before and after.",
        "",
        f"### Repeatability ({captures} random captures of one design per type)",
        "",
        "Exposure ±10 %, white balance ±5 %, noise SD 2, blur σ 0.6 px ±20 %, rotation ±1°, shift ±5 px, "
        f"JPEG 85-95; the frame minus a {BORDER_PX} px border. CV % (SD / mean) per metric.",
        "",
        "| type | " + " | ".join(f"`{k}`" for k in REPEAT_KEYS) + " |",
        "| --- | " + " | ".join("---:" for _ in REPEAT_KEYS) + " |",
    ]
    for t in TYPES:
        cvs = []
        for k in REPEAT_KEYS:
            vals = [r[k] for r in rep[t]]
            mean = statistics.fmean(vals)
            cvs.append(f"{100 * statistics.stdev(vals) / mean:.2f}" if mean else "—")
        lines.append(f"| {t} | " + " | ".join(cvs) + " |")
    lines += [
        "",
        "### Faintest spot and redness measured to target",
        "",
        "Designs whose 15 spots (1-20 mm²) all have the same ΔL*, or whose 3 red patches all have the "
        "same peak Δa*, at the type's base colour; 600 x 800 px at 0.05 mm/px, mild capture, designs "
        f"{', '.join(map(str, SWEEP_SEEDS))}. Smallest contrast from which every stronger one tried "
        f"(ΔL* {', '.join(f'{d:g}' for d in SPOT_DEPTHS)}; Δa* {', '.join(f'{p:g}' for p in RED_PEAKS)}) "
        "is measured within the targets on both designs (spots: count ±5 %, area ±10 %; red area "
        "±10 %). The thresholds scale with the local L* + 16 (engine 1.4.0 on: spots 100·ΔL*/(L* + 16) "
        "≤ −6.25, redness 100·Δa*/(L* + 16) ≥ 7.5), so the faintest contrast in L* and a* units falls "
        "with the type's lightness, and its darkening of reflectance (1 − Y_spot / Y_skin) and its "
        "share of the type's own feature contrast stay about the same (with engine 1.3.0's fixed "
        "thresholds the faintest was 7 L* and 7.5-8 a* on every type, 146 % and 148 % of type VI's "
        "faintest designed spot and erythema). Spots on types V and VI: the area is too large at every "
        "depth (type VI, ΔL* −8: +31 %), because the spot threshold is now −3.75 and −3 L* there while "
        "these phantoms' background texture (SD 0.8 L*) and mottling (0.4 L*) keep the light skin's "
        "amplitude in L*: their dips join a small spot's rim. Without texture and mottling the same "
        "design is measured −4.7 % (+1.1 % with a perfect capture too). Physically the skin's relief "
        "and mottling would scale with L* + 16 as the features do; the per-type accuracy above, with "
        "the type's own contrast and 0.3-50 mm² spots, meets every target.",
        "",
        "| type | smallest spot −ΔL\\* | its darkening of reflectance | share of the type's faintest "
        "designed spot (8 L\\* × contrast) | smallest red Δa\\* | share of the type's faintest designed "
        "erythema (9 a\\* × contrast) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in TYPES:
        L = FITZPATRICK_LAB[t][0]
        c = skin_contrast(L)
        s, r = spot_min[t], red_min[t]
        s_txt = f"{s:g}" if s is not None else f"> {max(SPOT_DEPTHS):g}"
        dark = f"{100 * _relative_darkening(L, s):.0f} %" if s is not None else "—"
        s_share = f"{100 * s / (8.0 * c):.0f} %" if s is not None else "—"
        r_txt = f"{r:g}" if r is not None else f"> {max(RED_PEAKS):g}"
        r_share = f"{100 * r / (9.0 * c):.0f} %" if r is not None else "—"
        lines.append(f"| {t} | {s_txt} | {dark} | {s_share} | {r_txt} | {r_share} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--captures", type=int, default=8)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        acc_jobs = [(t, s) for t in TYPES for s in range(args.seeds)]
        rep_jobs = [(t, c) for t in TYPES for c in range(args.captures)]
        spot_jobs = [(t, d, s) for t in TYPES for d in SPOT_DEPTHS for s in SWEEP_SEEDS]
        red_jobs = [(t, p, s) for t in TYPES for p in RED_PEAKS for s in SWEEP_SEEDS]
        acc_res = pool.starmap(_accuracy_one, acc_jobs)
        rep_res = pool.starmap(_repeat_one, rep_jobs)
        spot_res = pool.starmap(_spot_ok, spot_jobs)
        red_res = pool.starmap(_red_ok, red_jobs)
    acc = {t: [r for (tt, _s), r in zip(acc_jobs, acc_res, strict=True) if tt == t] for t in TYPES}
    rep = {t: [r for (tt, _c), r in zip(rep_jobs, rep_res, strict=True) if tt == t] for t in TYPES}
    spot_min = {
        t: _smallest(
            {
                d: all(ok for (tt, dd, _s), ok in zip(spot_jobs, spot_res, strict=True) if (tt, dd) == (t, d))
                for d in SPOT_DEPTHS
            }
        )
        for t in TYPES
    }
    red_min = {
        t: _smallest(
            {
                p: all(ok for (tt, pp, _s), ok in zip(red_jobs, red_res, strict=True) if (tt, pp) == (t, p))
                for p in RED_PEAKS
            }
        )
        for t in TYPES
    }
    cpu = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    md = markdown(acc, rep, spot_min, red_min, args.seeds, args.captures, time.perf_counter() - t0, cpu)
    print(md)
    if not args.no_write:
        write_section("skinlab-skin-types", md)


if __name__ == "__main__":
    main()
