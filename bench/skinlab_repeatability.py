"""Repeatability of the skin metrics on synthetic phantoms and a real face; accuracy on phantoms.

Run (from the repository root; about a minute on 2 cores)::

    uv run python -m bench.skinlab_repeatability [--captures 20] [--face-captures 40] [--held-out 10]
        [--seeds 10]

1. **Repeatability.** One phantom design (``make_phantom(seed=0, spots=25, wrinkles=10)``,
   1200 x 1600 px at 0.05 mm/px) is captured ``--captures`` times with independent random
   perturbations (:meth:`Perturbation.random`: exposure ±10 %, white-balance gains ±5 % on red
   and blue, sensor noise SD 2 (8-bit), blur σ 0.6 px ±20 %, rotation ±1°, shift ±5 px, JPEG
   quality 85-95) and measured in one fixed region (the frame minus a 40 px border). Per metric:
   mean, SD across captures (taken as the SEM of a single measurement), CV = SD / |mean| and
   the minimal detectable change ``mdc = 1.96·√2·SEM``. The table goes to the
   ``skinlab-repeatability`` section of docs/benchmarks.md next to VISIA's published CVs, and
   ``src/exoderm/skinlab/data/repeatability.json`` is rewritten (the mdc table the compare step
   uses). Captures are *not* colour calibrated: exposure and white balance move the raw
   L*a*b* medians, which is what the CVs of ``L_median``, ``a_median``, ``b_median`` and
   ``ita_deg`` show; chart calibration removes most of that.
2. **Accuracy.** ``--seeds`` phantom designs, each captured with a mild realistic perturbation
   (:meth:`Perturbation.mild`: noise SD 2, blur σ 0.6 px, JPEG 90), measured against the ground
   truth. Section ``skinlab-accuracy``.
3. **Repeatability on a real face.** A phantom has no face: no landmarks, no region polygons
   that move with the head, no iris scale. scikit-image's astronaut photo (1536 x 1536 px, the
   face about 320 px wide, 0.46 mm/px from the iris) is re-captured ``--face-captures`` times
   with session-to-session perturbations (:func:`recapture`: rotation ±3°, scale ±5 %, shift
   ±20 px, exposure ±10 %, white-balance gains ±5 %, sensor noise SD 1-3, focus blur σ 0-1 px,
   JPEG quality 85-95) and each capture goes through :func:`exoderm.skinlab.pipeline.analyze`
   (``roi='face'``, scale from the iris), so the noise of the face mesh, the region masks and
   the iris scale is in the study. Per region and metric, SEM = SD across captures.

The shipped table (``repeatability.json``, key ``metrics``, the one
:func:`exoderm.skinlab.compare.compare` reads) is conservative: for each metric, the larger of
the phantom's SEM and the real face's largest per-region SEM, so that noise is not called a
change in any region. Three extra keys, which compare ignores: ``source`` (per metric, which
study the value came from), ``phantom`` (the phantom's table, same shape as ``metrics``) and
``face_regions`` (the real face's per-region table, ``{region: {metric: {"sem", "mdc",
"cv_pct"}}}``; a metric that was null in the captures is absent). A held-out check compares
``--held-out`` re-captures with seeds not used in the study against the original photo
(saved as JPEG 90), against one another, and against the uncompressed original, and counts
the (region, metric) pairs called ``beyond_noise`` with the phantom-only and the shipped table.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from tests.skinlab._images import astronaut_face  # noqa: E402

from bench._report import write_section  # noqa: E402
from exoderm.skinlab import ENGINE_VERSION  # noqa: E402
from exoderm.skinlab.color import _decode, _encode  # noqa: E402
from exoderm.skinlab.compare import compare  # noqa: E402
from exoderm.skinlab.metrics import METRIC_KEYS, measure_regions  # noqa: E402
from exoderm.skinlab.phantom import Perturbation, make_phantom  # noqa: E402
from exoderm.skinlab.pipeline import Analysis, analyze  # noqa: E402

JSON_OUT = ROOT / "src" / "exoderm" / "skinlab" / "data" / "repeatability.json"
COMMAND = "uv run python -m bench.skinlab_repeatability"

#: VISIA's published repeatability (CV, %): 2 to 6 %, texture and brown spots under 2 %,
#: spots and wrinkles about 6 %. The closest VISIA feature for each of our metrics; colour
#: medians, evenness and texture are held to the strict 2 %, counts and areas to 6 %.
VISIA_CV: dict[str, tuple[float, str]] = {
    "L_median": (2.0, "—"),
    "a_median": (2.0, "—"),
    "b_median": (2.0, "—"),
    "ita_deg": (2.0, "—"),
    "tone_sd_L": (2.0, "brown spots < 2"),
    "spot_count": (6.0, "spots ≈ 6"),
    "spot_area_mm2": (6.0, "spots ≈ 6"),
    "spot_area_pct": (6.0, "spots ≈ 6"),
    "red_area_pct": (6.0, "red areas 2-6"),
    "a_excess_mean": (6.0, "red areas 2-6"),
    "wrinkle_count": (6.0, "wrinkles ≈ 6"),
    "wrinkle_length_mm": (6.0, "wrinkles ≈ 6"),
    "wrinkle_density": (6.0, "wrinkles ≈ 6"),
    "texture_rms": (2.0, "texture < 2"),
    "pore_count": (6.0, "pores 2-6"),
    "pore_density": (6.0, "pores 2-6"),
}
COLOUR_KEYS = ("L_median", "a_median", "b_median", "ita_deg")

FACE_SIZE = 1536
"""Side of the real-face scene (the astronaut photo upscaled; the face about 320 px wide)."""
FACE_STUDY_SEED = 2000
"""Captures of the real-face study use seeds ``FACE_STUDY_SEED + i``."""
FACE_HELDOUT_SEED = 7000
"""The held-out check uses seeds from here (tests/skinlab/test_noise_floor.py uses 9000 on)."""
WORKERS = 2

#: Acceptance targets of the accuracy study (relative error).
ACCURACY_TARGETS = {
    "spot_count": 0.05,
    "spot_area_mm2": 0.10,
    "wrinkle_count": 0.10,
    "wrinkle_length_mm": 0.15,
    "red_area_pct": 0.10,
    "pore_count": None,
}


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """D65 sRGB -> CIE L*a*b* (OpenCV's float conversion, the spec's colour space)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def phantom_kwargs() -> dict:
    return {"seed": 0, "spots": 25, "wrinkles": 10, "red_patches": 3, "pores": 300}


# ============================================================================================
# repeatability
# ============================================================================================


def repeatability(captures: int, pool: Any = None) -> dict[str, dict[str, float]]:
    """Measure ``captures`` perturbed captures of one phantom; per-metric statistics."""
    rows = (pool.map if pool is not None else map)(_phantom_metrics, range(captures))
    rows = list(rows)
    return {k: _stats([r[k] for r in rows]) for k in METRIC_KEYS}


def calibrated_colour(captures: int) -> dict[str, dict[str, float]] | None:
    """CV of the colour medians when a ColorChecker in the frame calibrates each capture.

    Uses the calibration of :mod:`exoderm.skinlab.color` (``fit_ccm``, ``srgb_to_lab``) with
    the patches sampled at the chart's known position; ``None`` if that API is unavailable.
    """
    try:
        from exoderm.skinlab.color import fit_ccm, srgb_to_lab
    except ImportError:  # pragma: no cover - the other half of the engine is not there
        return None
    values: dict[str, list[float]] = {k: [] for k in COLOUR_KEYS}
    for i in range(captures):
        ph = make_phantom(
            **phantom_kwargs(), chart=True, chart_pitch_mm=4.0, perturb=Perturbation.random(1000 + i)
        )
        ch = ph.truth.chart
        r = max(2, ch["patch_px"] // 5)
        patches = np.array(
            [
                np.median(ph.rgb[round(y) - r : round(y) + r, round(x) - r : round(x) + r].reshape(-1, 3), 0)
                for x, y in ch["centers"]
            ]
        )
        cal = fit_ccm(patches / 255.0)
        lab = srgb_to_lab(ph.rgb, ccm=cal.ccm)
        region = np.zeros(ph.mask.shape, bool)
        region[40:-40, 40:-40] = True
        region &= cv2.erode(ph.mask.view(np.uint8), np.ones((41, 41), np.uint8)).view(bool)
        m = measure_regions(lab, {"region": region}, mm_per_px=None)["region"].metrics
        for k in COLOUR_KEYS:
            values[k].append(float(m[k]))
    out = {}
    for k, v in values.items():
        mean, sd = statistics.fmean(v), statistics.stdev(v)
        out[k] = {"mean": mean, "sem": sd, "mdc": 1.96 * math.sqrt(2.0) * sd, "cv_pct": 100 * sd / abs(mean)}
    return out


def _sig(x: float | None, fmt: str = ".3g") -> str:
    return "—" if x is None else format(x, fmt)


def repeatability_markdown(
    stats: dict[str, dict[str, float]],
    captures: int,
    cal: dict[str, dict[str, float]] | None,
    face: dict[str, dict[str, dict[str, float]]],
    face_captures: int,
    shipped: dict[str, dict[str, Any]],
    checks: dict[str, tuple[int, int, list[str]]],
) -> str:
    whole = face.get("face", {})
    lines = [
        "## skinlab repeatability (synthetic phantom and a real face, uncalibrated)",
        "",
        f"Reproduce: `{COMMAND}` (engine {ENGINE_VERSION}). Two studies; for each metric the "
        "larger SEM is shipped in `src/exoderm/skinlab/data/repeatability.json` as "
        "mdc = 1.96·√2·SEM, the noise floor below which `compare` never reports a change.",
        "",
        f"- **Phantom**: one design (25 spots, 10 wrinkles, 3 red patches, 300 pores; 1200 x 1600 px "
        f"at 0.05 mm/px) captured {captures} times with random exposure ±10 %, white-balance gains "
        "±5 %, sensor noise (SD 2 of 255), blur σ 0.6 px ±20 %, rotation ±1°, shift ±5 px and JPEG "
        "quality 85-95; one fixed region. SEM = SD across captures.",
        f"- **Real face**: scikit-image's astronaut photo ({FACE_SIZE} x {FACE_SIZE} px, the face "
        f"about 320 px wide) re-captured {face_captures} times with rotation ±3°, scale ±5 %, "
        "shift ±20 px, exposure ±10 %, white-balance gains ±5 %, sensor noise SD 1 to 3, focus "
        "blur σ 0 to 1 px and JPEG quality 85-95, each analysed by `pipeline.analyze` (face "
        "regions, scale from the iris), so the noise of the face mesh, the region masks and the "
        "iris scale is included. SEM = SD across captures per region; the table shows the worst "
        "region and the whole `face` region (whose CV is the one to hold against VISIA's "
        "whole-face numbers). Wrinkles, texture and pores are `null` at this photo's 0.46 mm/px "
        "(they need 0.17, 0.2 and 0.05 mm/px or finer), so for them the phantom is the only study. One "
        "face in one photo, re-captured digitally: the study measures the engine's noise under "
        "re-positioning and re-exposure, not the skin's day-to-day variation; repeat captures of "
        "volunteers (same day, re-positioned) should replace it when there are any.",
        "",
        "`compare` applies one mdc per metric to every region, so the shipped SEM is the largest "
        "per-region SEM (conservative: noise is not called a change in any region, at the price "
        "of sensitivity in the quieter regions). The per-region SEMs of the real face are in the "
        "JSON under `face_regions`, the phantom's under `phantom` and which study each shipped "
        "value came from under `source`; `compare` reads none of these. VISIA reference: its published "
        "CVs of 2 to 6 % (texture and brown spots under 2 %, spots and wrinkles about 6 %).",
        "",
        "| metric | phantom SEM | phantom CV % | face SEM, worst region | face SEM, whole face | "
        "face CV %, whole face | shipped mdc | from | VISIA CV % | below VISIA (phantom / face) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | :---: |",
    ]
    for k in METRIC_KEYS:
        s, sh = stats[k], shipped[k]
        ref, label = VISIA_CV[k]
        worst = "—" if "face_sem" not in sh else f"{sh['face_sem']:.3g} ({sh['face_region']})"
        wf = whole.get(k)
        ok_p = "yes" if s["cv_pct"] < ref else "**no**"
        ok_f = "—" if wf is None else ("yes" if wf["cv_pct"] < ref else "**no**")
        note = " (uncalibrated)" if k in COLOUR_KEYS else ""
        lines.append(
            f"| `{k}`{note} | {s['sem']:.3g} | {s['cv_pct']:.2f} | {worst} | "
            f"{_sig(None if wf is None else wf['sem'])} | "
            f"{_sig(None if wf is None else wf['cv_pct'], '.2f')} | **{sh['mdc']:.3g}** | {sh['source']} | "
            f"{label if label != '—' else f'< {ref:g} (strict)'} | {ok_p} / {ok_f} |"
        )
    lines += [
        "",
        "An mdc of 0 (no variation in the study: `wrinkle_count`, which the real face cannot "
        "measure) is read by `compare` as unknown: such a change is never claimed.",
        "",
        "Held-out check: re-captures with seeds not used in the study, each compared by `compare` "
        "with a baseline; (region, metric) pairs called `beyond_noise` although nothing changed. "
        "A 95 % mdc lets about 5 % of pure-noise changes through in the region whose SEM it is "
        "(fewer in the quieter regions). The last row is not session noise but a change of file "
        "format: JPEG compression by itself removes about half of the one-pixel spots of this "
        "0.46 mm/px face and lowers `a_excess_mean` by 0.1 to 0.2, so an uncompressed baseline "
        "against JPEG follow-ups is not a like-for-like comparison.",
        "",
        "| baseline | follow-ups | with the previous (phantom-only) table | with this table |",
        "| --- | --- | ---: | ---: |",
    ]
    for label, key, what in (
        ("the original photo (JPEG 90)", "original", "re-captures"),
        ("the first held-out re-capture", "capture", "re-captures"),
        ("the original photo, uncompressed", "format", "re-captures"),
    ):
        n_old, j_old, _ = checks[f"{key}/old"]
        n_new, j_new, which = checks[f"{key}/new"]
        where = ", ".join(sorted(set(which))) or "none"
        lines.append(
            f"| {label} | {checks[key + '/n'][0]} {what} | {n_old} of {j_old} "
            f"({100 * n_old / max(1, j_old):.1f} %) | {n_new} of {j_new} "
            f"({100 * n_new / max(1, j_new):.1f} %): {where} |"
        )
    lines += [
        "",
        "The colour medians above are measured on the raw sRGB values, so exposure and "
        "white-balance changes of ±10 % / ±5 % move them by design; the mdc table keeps these "
        "uncalibrated (conservative) values.",
    ]
    if cal is not None:
        lines += [
            "",
            "With a ColorChecker Classic 24 in the frame (4 mm pitch, patches sampled at the "
            "chart's known position) and each phantom capture calibrated by `exoderm.skinlab.color."
            f"fit_ccm`, over the same {captures} perturbations:",
            "",
            "| metric (calibrated) | mean | SEM | mdc | CV % | VISIA CV % | below VISIA |",
            "| --- | ---: | ---: | ---: | ---: | --- | :---: |",
        ]
        for k in COLOUR_KEYS:
            c = cal[k]
            ok = "yes" if c["cv_pct"] < VISIA_CV[k][0] else "**no**"
            lines.append(
                f"| `{k}` | {c['mean']:.4g} | {c['sem']:.3g} | {c['mdc']:.3g} | {c['cv_pct']:.2f} | "
                f"< {VISIA_CV[k][0]:g} (strict) | {ok} |"
            )
    return "\n".join(lines)


def _entry(s: dict[str, Any]) -> dict[str, float]:
    return {"sem": round(s["sem"], 6), "mdc": round(s["mdc"], 6), "cv_pct": round(s["cv_pct"], 4)}


def write_json(
    shipped: dict[str, dict[str, Any]],
    phantom: dict[str, dict[str, float]],
    face: dict[str, dict[str, dict[str, float]]],
) -> None:
    """The table compare reads (``metrics``), where each value came from, and both studies."""
    out = {
        "engine_version": ENGINE_VERSION,
        "generated_by": "bench/skinlab_repeatability.py",
        "metrics": {k: _entry(shipped[k]) for k in METRIC_KEYS},
        "source": {k: shipped[k]["source"] for k in METRIC_KEYS},
        "phantom": {k: _entry(phantom[k]) for k in METRIC_KEYS},
        "face_regions": {name: {k: _entry(v) for k, v in rows.items()} for name, rows in face.items()},
    }
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps(out, indent=2) + "\n")


# ============================================================================================
# repeatability on a real face
# ============================================================================================


def astronaut() -> np.ndarray:
    """The real-face scene: scikit-image's astronaut photo upscaled to ``FACE_SIZE``, noise-free."""
    return astronaut_face(FACE_SIZE, noise_sd=0)


def original(jpeg: bool = True) -> np.ndarray:
    """The baseline of the held-out check: the scene with sensor noise SD 1.5 (as in the tests),
    saved as a JPEG of quality 90 like every capture, or uncompressed (``jpeg=False``)."""
    img = astronaut_face(FACE_SIZE)
    return to_jpeg(img, 90) if jpeg else img


def recapture(
    scene: np.ndarray,
    seed: int,
    *,
    rotation_deg: float = 3.0,
    scale: float = 0.05,
    shift_px: float = 20.0,
    exposure: float = 0.10,
    wb: float = 0.05,
    noise_sd: tuple[float, float] = (1.0, 3.0),
    blur_sigma_px: tuple[float, float] = (0.0, 1.0),
    jpeg_quality: tuple[int, int] | None = (85, 95),
) -> np.ndarray:
    """One session's photo of ``scene``: the head placed and lit a little differently.

    Rotation about the image centre uniform in ±``rotation_deg``, scale 1 ± ``scale``, shift
    ±``shift_px`` on each axis, exposure 1 ± ``exposure`` and red/blue gains 1 ± ``wb`` on
    linear light, Gaussian blur (focus) of σ uniform in ``blur_sigma_px``, sensor noise of SD
    uniform in ``noise_sd`` (8-bit), JPEG at a quality uniform in ``jpeg_quality`` (``None``: kept
    uncompressed); all drawn
    from ``seed``. Blur and noise ranges include the :func:`original` photo (sharp, SD 1.5): a
    perfectly focused session is one of the sessions.
    """
    rng = np.random.default_rng(seed)
    u = rng.uniform
    h, w = scene.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), u(-rotation_deg, rotation_deg), 1.0 + u(-scale, scale))
    m[:, 2] += u(-shift_px, shift_px, 2)
    moved = cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    gains = np.array([1.0 + u(-wb, wb), 1.0, 1.0 + u(-wb, wb)]) * (1.0 + u(-exposure, exposure))
    out = _encode(np.clip(_decode(moved / 255.0) * gains, 0.0, 1.0)).astype(np.float32)
    sigma = u(*blur_sigma_px)
    if sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out *= 255.0
    out += rng.standard_normal(out.shape, dtype=np.float32) * u(*noise_sd)
    rgb = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if jpeg_quality is None:
        return rgb
    return to_jpeg(rgb, int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)))


def to_jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` saved as a JPEG of ``quality`` and decoded again (OpenCV, 4:2:0 chroma)."""
    _, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core


def _face_record(seed: int | None, jpeg: bool = True) -> dict[str, Any]:
    """The analysis record of one capture of the astronaut (``None``: the :func:`original` photo)."""
    img = original(jpeg) if seed is None else recapture(astronaut(), seed)
    return analyze(img, keep_arrays=False).to_dict()


def _phantom_metrics(i: int) -> dict[str, float]:
    ph = make_phantom(**phantom_kwargs(), perturb=Perturbation.random(1000 + i))
    mask = np.zeros(ph.mask.shape, bool)
    mask[40:-40, 40:-40] = True
    r = measure_regions(to_lab(ph.rgb), {"region": mask}, mm_per_px=ph.mm_per_px)["region"]
    return {k: float(r.metrics[k]) for k in METRIC_KEYS}


def _pool() -> Any:
    return multiprocessing.get_context("spawn").Pool(WORKERS, initializer=_worker_init)


def _stats(v: list[float]) -> dict[str, float]:
    mean = statistics.fmean(v)
    sd = statistics.stdev(v)
    cv = 100.0 * sd / abs(mean) if mean else (0.0 if sd == 0 else math.inf)
    return {"mean": mean, "sem": sd, "mdc": 1.96 * math.sqrt(2.0) * sd, "cv_pct": cv, "n": len(v)}


def face_repeatability(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per region and metric: statistics across the captures (metrics null in any capture skipped)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in records[0]["regions"]:
        out[name] = {}
        for k in METRIC_KEYS:
            v = [r["regions"][name]["metrics"][k] for r in records if name in r["regions"]]
            if len(v) == len(records) and all(x is not None for x in v):
                out[name][k] = _stats([float(x) for x in v])
    return out


def combine(
    phantom: dict[str, dict[str, float]], face: dict[str, dict[str, dict[str, float]]]
) -> dict[str, dict[str, Any]]:
    """The shipped table: per metric the larger of the phantom's and the face's worst-region SEM."""
    out: dict[str, dict[str, Any]] = {}
    for k in METRIC_KEYS:
        rows = [(name, m[k]) for name, m in face.items() if k in m]
        best = {**phantom[k], "source": "phantom", "region": None}
        if rows:
            name, worst = max(rows, key=lambda r: r[1]["sem"])
            best.update(face_sem=worst["sem"], face_region=name)
            if worst["sem"] > phantom[k]["sem"]:
                best.update(
                    sem=worst["sem"],
                    mdc=worst["mdc"],
                    cv_pct=worst["cv_pct"],
                    source="real face",
                    region=name,
                )
        out[k] = best
    return out


def false_positives(
    baseline: dict[str, Any], follow_ups: list[dict[str, Any]], rep: dict[str, dict[str, Any]]
) -> tuple[int, int, list[str]]:
    """(beyond_noise, judged, which) over every (follow-up, region, metric) against ``baseline``."""
    base = Analysis.from_dict(baseline)
    hits, judged, which = 0, 0, []
    for rec in follow_ups:
        c = compare(base, Analysis.from_dict(rec), repeatability=rep, heatmap=False)
        for name, rows in c.regions.items():
            for k, row in rows.items():
                if row["beyond_noise"] is not None:
                    judged += 1
                    if row["beyond_noise"]:
                        hits += 1
                        which.append(f"{name}/{k}")
    return hits, judged, which


# ============================================================================================
# accuracy and speed
# ============================================================================================


def moderate(seed: int) -> Perturbation:
    """A harder capture: noise SD 3, blur σ 1 px, JPEG 80, exposure −10 %, gains ±5 %, moved."""
    return Perturbation(
        exposure=0.9,
        wb_gains=(1.05, 1.0, 0.95),
        noise_sd=3.0,
        blur_sigma_px=1.0,
        jpeg_quality=80,
        rotation_deg=1.5,
        shift_px=(3.0, -2.0),
        seed=seed,
    )


def accuracy(seeds: int, perturb=Perturbation.mild) -> dict[str, list[float]]:
    """Relative errors (measured − truth) / truth per metric over ``seeds`` phantom designs."""
    errs: dict[str, list[float]] = {k: [] for k in ACCURACY_TARGETS}
    for seed in range(seeds):
        ph = make_phantom(**{**phantom_kwargs(), "seed": seed}, perturb=perturb(seed))
        m = measure_regions(to_lab(ph.rgb), {"full": ph.mask}, mm_per_px=ph.mm_per_px)["full"].metrics
        t = ph.truth
        truth = {
            "spot_count": t.spot_count,
            "spot_area_mm2": t.spot_area_mm2,
            "wrinkle_count": t.wrinkle_count,
            "wrinkle_length_mm": t.wrinkle_length_mm,
            "red_area_pct": t.red_area_pct,
            "pore_count": t.pore_count,
        }
        for k, tv in truth.items():
            errs[k].append((m[k] - tv) / tv)
        print(f"  design {seed + 1}/{seeds}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return errs


def _error_table(errs: dict[str, list[float]]) -> list[str]:
    lines = [
        "| metric | mean error % | mean abs error % | worst abs error % | target | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for k, e in errs.items():
        tgt = ACCURACY_TARGETS[k]
        worst = max(abs(x) for x in e)
        met = "—" if tgt is None else ("yes" if worst <= tgt else "**no**")
        tgt_s = "none" if tgt is None else f"±{100 * tgt:g} %"
        lines.append(
            f"| `{k}` | {100 * statistics.fmean(e):+.1f} | {100 * statistics.fmean(map(abs, e)):.1f} | "
            f"{100 * worst:.1f} | {tgt_s} | {met} |"
        )
    return lines


def accuracy_markdown(
    errs: dict[str, list[float]],
    seeds: int,
    hard: dict[str, list[float]] | None = None,
) -> str:
    lines = [
        "## skinlab accuracy (synthetic phantoms with ground truth)",
        "",
        f"Reproduce: `{COMMAND}` (engine {ENGINE_VERSION}). {seeds} phantom designs (seeds 0 to "
        f"{seeds - 1}; 25 spots of 0.3-50 mm², 10 wrinkles 0.25-1.5 mm wide and 6-30 mm long, "
        "3 red patches, 300 pores of 0.1-0.25 mm; 1200 x 1600 px at 0.05 mm/px), each captured "
        "with sensor noise (SD 2 of 255), blur σ 0.6 px and JPEG quality 90. Truth is what the "
        "spec's definitions count on the perfect design. Error = (measured − truth) / truth.",
        "",
    ]
    lines += _error_table(errs)
    if hard is not None:
        lines += [
            "",
            "The same designs under a harder capture (noise SD 3, blur σ 1 px, JPEG 80, exposure "
            "−10 %, white-balance gains ±5 %, rotation 1.5°, shift 3 px; targets shown for "
            "reference only). Pores of 0.1-0.25 mm are 2-5 px wide at this scale and a 1 px blur "
            "erases many of them:",
            "",
        ]
        lines += _error_table(hard)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=20)
    ap.add_argument("--face-captures", type=int, default=40)
    ap.add_argument("--held-out", type=int, default=10, help="re-captures of the held-out check")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    study = [FACE_STUDY_SEED + i for i in range(args.face_captures)]
    held = [FACE_HELDOUT_SEED + i for i in range(args.held_out)]
    with _pool() as pool:
        stats = repeatability(args.captures, pool)
        records = pool.starmap(
            _face_record, [(None, True), (None, False)] + [(i, True) for i in study + held]
        )
    base, base_raw, study_recs, held_recs = (
        records[0],
        records[1],
        records[2 : 2 + len(study)],
        records[2 + len(study) :],
    )
    face = face_repeatability(study_recs)
    shipped = combine(stats, face)
    pairs = {
        "original": (base, held_recs),
        "capture": (held_recs[0], held_recs[1:]),
        "format": (base_raw, held_recs),
    }
    checks: dict[str, Any] = {}
    for key, (b, follow) in pairs.items():
        checks[f"{key}/n"] = (len(follow),)
        for tag, table in (("old", stats), ("new", shipped)):
            checks[f"{key}/{tag}"] = false_positives(b, follow, table)
    cal = calibrated_colour(args.captures)
    rep_md = repeatability_markdown(stats, args.captures, cal, face, len(study), shipped, checks)
    print(rep_md)
    errs = accuracy(args.seeds)
    hard = accuracy(args.seeds, moderate)
    acc_md = accuracy_markdown(errs, args.seeds, hard)
    print()
    print(acc_md)
    if not args.no_write:
        write_json(shipped, stats, face)
        write_section("skinlab-repeatability", rep_md)
        write_section("skinlab-accuracy", acc_md)


if __name__ == "__main__":
    main()
