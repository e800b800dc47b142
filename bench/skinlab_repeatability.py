"""Repeatability and accuracy of the skin metrics on synthetic phantoms.

Run (from the repository root)::

    uv run python -m bench.skinlab_repeatability [--captures 20] [--seeds 10] [--no-timing]

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
   truth; and the time of :func:`measure_regions` on a 12 MP frame. Section ``skinlab-accuracy``.
"""

from __future__ import annotations

import argparse
import json
import math
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
from exoderm.skinlab.metrics import METRIC_KEYS, measure_regions  # noqa: E402
from exoderm.skinlab.phantom import Perturbation, make_phantom  # noqa: E402

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


def repeatability(captures: int) -> dict[str, dict[str, float]]:
    """Measure ``captures`` perturbed captures of one phantom; per-metric statistics."""
    values: dict[str, list[float]] = {k: [] for k in METRIC_KEYS}
    mask = None
    for i in range(captures):
        ph = make_phantom(**phantom_kwargs(), perturb=Perturbation.random(1000 + i))
        if mask is None:
            mask = np.zeros(ph.mask.shape, bool)
            mask[40:-40, 40:-40] = True
        r = measure_regions(to_lab(ph.rgb), {"region": mask}, mm_per_px=ph.mm_per_px)["region"]
        for k in METRIC_KEYS:
            values[k].append(float(r.metrics[k]))
        print(f"  capture {i + 1}/{captures}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    stats = {}
    for k, v in values.items():
        mean = statistics.fmean(v)
        sd = statistics.stdev(v)
        cv = 100.0 * sd / abs(mean) if mean else math.inf
        stats[k] = {"mean": mean, "sem": sd, "mdc": 1.96 * math.sqrt(2.0) * sd, "cv_pct": cv}
    return stats


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


def repeatability_markdown(
    stats: dict[str, dict[str, float]], captures: int, cal: dict[str, dict[str, float]] | None = None
) -> str:
    lines = [
        "## skinlab repeatability (synthetic phantom, uncalibrated)",
        "",
        f"Reproduce: `{COMMAND}` (engine {ENGINE_VERSION}). One phantom design (25 spots, 10 "
        "wrinkles, 3 red patches, 300 pores; 1200 x 1600 px at 0.05 mm/px) captured "
        f"{captures} times with random exposure ±10 %, white-balance gains ±5 %, sensor noise "
        "(SD 2 of 255), blur σ 0.6 px ±20 %, rotation ±1°, shift ±5 px and JPEG quality "
        "85-95; one fixed region. SEM = SD across captures; mdc = 1.96·√2·SEM (written to "
        "`src/exoderm/skinlab/data/repeatability.json`). VISIA reference: its published CVs of "
        "2 to 6 % (texture and brown spots under 2 %, spots and wrinkles about 6 %).",
        "",
        "| metric | mean | SEM | mdc | CV % | VISIA CV % | below VISIA |",
        "| --- | ---: | ---: | ---: | ---: | --- | :---: |",
    ]
    for k in METRIC_KEYS:
        s = stats[k]
        ref, label = VISIA_CV[k]
        ok = "yes" if s["cv_pct"] < ref else "**no**"
        note = " (uncalibrated)" if k in COLOUR_KEYS else ""
        lines.append(
            f"| `{k}`{note} | {s['mean']:.4g} | {s['sem']:.3g} | {s['mdc']:.3g} | "
            f"{s['cv_pct']:.2f} | {label if label != '—' else f'< {ref:g} (strict)'} | {ok} |"
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
            "chart's known position) and each capture calibrated by `exoderm.skinlab.color."
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


def write_json(stats: dict[str, dict[str, float]]) -> None:
    out = {
        "engine_version": ENGINE_VERSION,
        "generated_by": "bench/skinlab_repeatability.py",
        "metrics": {
            k: {
                "sem": round(stats[k]["sem"], 6),
                "mdc": round(stats[k]["mdc"], 6),
                "cv_pct": round(stats[k]["cv_pct"], 4),
            }
            for k in METRIC_KEYS
        },
    }
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps(out, indent=2) + "\n")


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


def timing(reps: int = 3) -> dict:
    """Time of measure_regions on a 12 MP frame (face ellipse + 9 sub-regions), wall and CPU.

    Medians of ``reps`` runs after a warm-up; JPEG decoding of the same frame (simplejpeg) is
    timed the same way for the ratio. CPU time (all threads) is reported next to wall time
    because a shared machine's load inflates wall time.
    """
    import os

    import simplejpeg

    from exoderm.skinlab import metrics

    ph = make_phantom(
        shape=(3000, 4000),
        mm_per_px=0.05,
        seed=0,
        spots=120,
        wrinkles=50,
        red_patches=12,
        pores=3000,
        perturb=Perturbation.mild(0),
    )
    jpeg = simplejpeg.encode_jpeg(ph.rgb, quality=92)
    h, w = ph.mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    face = ((xx - w / 2) / (0.42 * w)) ** 2 + ((yy - h / 2) / (0.47 * h)) ** 2 <= 1
    masks = {"face": face}
    for i in range(3):
        for j in range(3):
            masks[f"r{i}{j}"] = face & (yy * 3 // h == i) & (xx * 3 // w == j)
    lab = to_lab(ph.rgb)
    rows = []
    for _ in range(reps + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        simplejpeg.decode_jpeg(jpeg)
        w1, c1 = time.perf_counter(), time.process_time()
        measure_regions(lab, masks, mm_per_px=0.05)
        w2, c2 = time.perf_counter(), time.process_time()
        rows.append((w1 - w0, c1 - c0, w2 - w1, c2 - c1, dict(metrics.LAST_TIMINGS)))
    rows = rows[1:]
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    stages = {k: statistics.median(r[4][k] for r in rows) for k in rows[0][4]}
    return {
        "decode_wall": med[0],
        "decode_cpu": med[1],
        "measure_wall": med[2],
        "measure_cpu": med[3],
        "stages": stages,
        "face_px": int(face.sum()),
        "load": os.getloadavg()[0],
    }


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
    tm: dict | None,
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
    if tm is not None:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in tm["stages"].items())
        lines += [
            "",
            "Speed: `measure_regions` on a 12 MP (3000 x 4000) phantom at 0.05 mm/px, face ellipse "
            f"({tm['face_px'] / 1e6:.1f} MP) plus 9 sub-regions, median of 3 runs: "
            f"**{tm['measure_wall']:.2f} s wall, {tm['measure_cpu']:.2f} s CPU** (all threads) against "
            f"{1000 * tm['decode_wall']:.0f} ms wall / {1000 * tm['decode_cpu']:.0f} ms CPU to decode the "
            f"JPEG: a ratio of {tm['measure_wall'] / tm['decode_wall']:.0f}x wall, "
            f"{tm['measure_cpu'] / tm['decode_cpu']:.0f}x CPU (target ≤ 3x, **not met**). "
            f"Stages (wall s): {stages}. Load average during the run: {tm['load']:.1f}.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    stats = repeatability(args.captures)
    cal = calibrated_colour(args.captures)
    rep_md = repeatability_markdown(stats, args.captures, cal)
    print(rep_md)
    errs = accuracy(args.seeds)
    hard = accuracy(args.seeds, moderate)
    tm = None if args.no_timing else timing()
    acc_md = accuracy_markdown(errs, args.seeds, tm, hard)
    print()
    print(acc_md)
    if not args.no_write:
        write_json(stats)
        write_section("skinlab-repeatability", rep_md)
        write_section("skinlab-accuracy", acc_md)


if __name__ == "__main__":
    main()
