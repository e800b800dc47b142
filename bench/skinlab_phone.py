"""skinlab under phone processing: repeatability, bias, accuracy and false changes per phone profile.

Rewrite the ``skinlab-phone`` section of docs/benchmarks.md, from the repository root (about three
minutes on a busy 2-core machine with the default 12 captures per profile)::

    uv run python -m bench.skinlab_phone [--captures 12] [--no-write]

and the ``skinlab-phone-sharpening`` section, the edge overshoot each study covered (about ten
minutes: the finer face study's captures are 5120 px square)::

    uv run python -m bench.skinlab_phone --coverage [--captures 12] [--fine-captures 6] [--no-write]

Protocol: the repeatability study's (``bench/skinlab_repeatability.py``, study 1) with fewer
repeats. One phantom design (``make_phantom(seed=0, spots=25, wrinkles=10)``, 1200 x 1600 px at
0.05 mm/px) is captured ``--captures`` times with the study's random perturbations
(:meth:`Perturbation.random` with the study's seeds 1000 on: exposure ±10 %, white balance ±5 %,
noise SD 2, blur σ 0.6 px ±20 %, rotation ±1°, shift ±5 px) through each phone profile of
:data:`exoderm.skinlab.phone.PHONE_PROFILES`; ``pro-raw-like`` is the study's own capture (JPEG
85-95, no phone processing). Each capture is analysed by ``pipeline.analyze`` in the study's
fixed region (the frame minus a 40 px border). The same seeds in every profile, so that the
profiles differ only by the processing. Per profile and metric:

- **CV** (SD / |mean| across captures) against the unprocessed capture's and VISIA's;
- **bias**: the mean paired difference from the unprocessed capture of the same seed, and its
  ratio to the shipped mdc (what switching between a RAW-like mode and the phone's default
  between baseline and follow-up adds to a change);
- **accuracy** of the mean against the design's truth for the metrics with accuracy targets;
- **false changes**: every pair of captures of one profile compared by :func:`compare` with the
  shipped study (the same skin; any metric ``beyond_noise`` is a false change), and every pair of
  an unprocessed baseline with a processed follow-up of another seed (device or mode switched).

``--coverage``: the edge overshoot (:func:`exoderm.skinlab.quality.edge_overshoot_pct`, how
strongly a capture was sharpened) of the repeatability study's captures (the phantom's 40, the
real face's 40 and original, the finer face's ``--fine-captures`` and original) and of the
phantom's captures through each phone profile; :func:`edge_overshoot_coverage` turns each study's
into the coverage :func:`~exoderm.skinlab.compare.compare` judges by
(``EDGE_OVERSHOOT_COVERED_PCT``, ``EDGE_OVERSHOOT_DIFF_COVERED_PCT`` in ``skinlab/compare.py``).
The phantom's coverage includes the ordinary profiles (``iphone-default``, ``android-default``),
on the study's design and on six more, whose same-pipeline pairs the shipped mdc of the spot,
line and pore metrics judged without more false changes than the unprocessed ones;
``android-aggressive`` is the processing it does not cover.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from bench._report import write_section  # noqa: E402
from bench.skinlab_repeatability import (  # noqa: E402
    ACCURACY_TARGETS,
    VISIA_CV,
    _pool,
    phantom_kwargs,
)
from exoderm.skinlab import ENGINE_VERSION  # noqa: E402
from exoderm.skinlab.compare import compare, load_repeatability  # noqa: E402
from exoderm.skinlab.metrics import METRIC_KEYS  # noqa: E402
from exoderm.skinlab.phantom import Perturbation, make_phantom  # noqa: E402
from exoderm.skinlab.phone import PHONE_PROFILES  # noqa: E402
from exoderm.skinlab.pipeline import Analysis, analyze  # noqa: E402

COMMAND = "uv run python -m bench.skinlab_phone"
STUDY_SEED = 1000
"""The repeatability study's capture seeds (``Perturbation.random(1000 + i)``)."""
BORDER_PX = 40
UNPROCESSED = "pro-raw-like"
#: A metric's noise counts as raised when its SD under a profile is this many times the
#: unprocessed capture's (and above half the shipped SEM, so that a tiny SD doubling is not news).
RAISED_NOISE = 1.5
#: A bias counts when it is this share of the shipped mdc or more.
RAISED_BIAS = 0.5
#: The profiles whose same-pipeline noise the shipped mdc holds (the false-change table), so that
#: the phantom study's coverage of sharpening includes them.
ORDINARY = ("iphone-default", "android-default")
#: Further phantom designs (``make_phantom`` seeds; the study's is 0) the ordinary profiles are
#: measured on for the coverage, and the captures of each: skins differ in their edges more than
#: captures of one skin do.
COVERAGE_DESIGNS, COVERAGE_CAPTURES_PER_DESIGN = range(1, 7), 3
#: The coverage lies this far above the largest reading (and largest difference) among the
#: captures: on the 12 designs and sizes tried, one profile's readings spread by ±22 % about their
#: middle, more than the study's one design shows.
COVERAGE_MARGIN = 1.25


def _capture(name: str, seed: int) -> dict[str, Any]:
    """The analysis record of one capture of the study's phantom through profile ``name``."""
    ph = make_phantom(**phantom_kwargs(), perturb=Perturbation.random(seed, phone=name))
    region = np.zeros(ph.mask.shape, bool)
    region[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = True
    record = analyze(ph.rgb, roi=region, mm_per_px=ph.mm_per_px, keep_arrays=False).to_dict()
    record["truth"] = {
        "spot_count": ph.truth.spot_count,
        "spot_area_mm2": ph.truth.spot_area_mm2,
        "wrinkle_count": ph.truth.wrinkle_count,
        "wrinkle_length_mm": ph.truth.wrinkle_length_mm,
        "red_area_pct": 100.0 * ph.truth.red_area_mm2 / (int(region.sum()) * ph.mm_per_px**2),
        "pore_count": ph.truth.pore_count,
    }
    return record


def _metrics(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(record["regions"]["mask"]["metrics"][k]) for k in METRIC_KEYS}


def _beyond(before: Analysis, after: Analysis) -> list[tuple[str, float]]:
    """(metric, delta) of every metric compare() calls changed beyond the noise."""
    result = compare(before, after, heatmap=False)
    if not result.comparable:
        raise RuntimeError(f"captures of one phantom not comparable: {result.reasons}")
    return [(k, row["delta"]) for k, row in result.regions["mask"].items() if row["beyond_noise"]]


def run(captures: int) -> dict[str, Any]:
    """Capture and analyse; per profile the statistics, biases, accuracy and false changes."""
    seeds = [STUDY_SEED + i for i in range(captures)]
    jobs = [(name, seed) for name in PHONE_PROFILES for seed in seeds]
    with _pool() as pool:
        flat = pool.starmap(_capture, jobs)
    records = {name: flat[i * captures : (i + 1) * captures] for i, name in enumerate(PHONE_PROFILES)}
    study, _ = load_repeatability()
    if study is None:
        raise RuntimeError("no repeatability study for this engine version: run bench.skinlab_repeatability")
    table, _ = study.table(0.05)
    mdc = {k: float(table.mdc("mask", k) or 0.0) for k in METRIC_KEYS}
    sem = {k: mdc[k] / (1.96 * 2**0.5) for k in METRIC_KEYS}
    truth = records[UNPROCESSED][0]["truth"]
    values = {name: [_metrics(r) for r in recs] for name, recs in records.items()}
    analyses = {name: [Analysis.from_dict(r) for r in recs] for name, recs in records.items()}
    out: dict[str, Any] = {"captures": captures, "mdc": mdc, "sem": sem, "truth": truth, "profiles": {}}
    for name in PHONE_PROFILES:
        per: dict[str, Any] = {"stats": {}, "bias": {}, "accuracy": {}}
        for k in METRIC_KEYS:
            v = [row[k] for row in values[name]]
            mean, sd = statistics.fmean(v), statistics.stdev(v)
            per["stats"][k] = {"mean": mean, "sd": sd, "cv_pct": 100.0 * sd / abs(mean) if mean else 0.0}
            diffs = [a[k] - b[k] for a, b in zip(values[name], values[UNPROCESSED], strict=True)]
            per["bias"][k] = statistics.fmean(diffs)
        for k in ACCURACY_TARGETS:
            per["accuracy"][k] = (per["stats"][k]["mean"] - truth[k]) / truth[k]
        same = [_beyond(a, b) for a, b in itertools.combinations(analyses[name], 2)]
        per["same_pairs"] = len(same)
        per["same_false"] = sum(1 for hits in same if hits)
        per["same_by_metric"] = _count(same)
        if name != UNPROCESSED:
            mixed = [
                _beyond(a, b)
                for (i, a), (j, b) in itertools.product(
                    enumerate(analyses[UNPROCESSED]), enumerate(analyses[name])
                )
                if i != j
            ]
            per["mixed_pairs"] = len(mixed)
            per["mixed_false"] = sum(1 for hits in mixed if hits)
            per["mixed_by_metric"] = _count(mixed)
        out["profiles"][name] = per
    return out


def _count(pairs: list[list[tuple[str, float]]]) -> dict[str, tuple[int, int]]:
    """Per metric: (pairs called a decrease, pairs called an increase)."""
    counts: dict[str, list[int]] = {}
    for hits in pairs:
        for k, delta in hits:
            c = counts.setdefault(k, [0, 0])
            c[0 if delta < 0 else 1] += 1
    return {k: (c[0], c[1]) for k, c in counts.items()}


def raised(result: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per processing profile: the metrics whose noise (SD) and whose bias the processing raises."""
    base = result["profiles"][UNPROCESSED]["stats"]
    out = {}
    for name, per in result["profiles"].items():
        if name == UNPROCESSED:
            continue
        noise = [
            k
            for k in METRIC_KEYS
            if per["stats"][k]["sd"] > RAISED_NOISE * base[k]["sd"]
            and per["stats"][k]["sd"] > 0.5 * result["sem"][k]
        ]
        bias = [k for k in METRIC_KEYS if abs(per["bias"][k]) >= RAISED_BIAS * result["mdc"][k]]
        out[name] = {"noise": noise, "bias": bias}
    return out


def _pairs_cell(by_metric: dict[str, tuple[int, int]], k: str, n: int) -> str:
    down, up = by_metric.get(k, (0, 0))
    if not down and not up:
        return "0"
    parts = [f"{down} ↓" if down else "", f"{up} ↑" if up else ""]
    return f"{' '.join(p for p in parts if p)} of {n}"


def _rate(hits: int, pairs: int) -> str:
    return f"{hits} of {pairs} ({100 * hits / pairs:.0f} %)"


def markdown(result: dict[str, Any]) -> str:
    names = list(PHONE_PROFILES)
    processed = [n for n in names if n != UNPROCESSED]
    profiles = result["profiles"]
    n = result["captures"]
    found = raised(result)
    head = " | ".join(f"`{p}`" for p in names)
    lines = [
        "## skinlab under phone processing",
        "",
        f"Reproduce: `{COMMAND}` (engine {ENGINE_VERSION}, {n} captures per profile). The repeatability "
        "study's phantom (25 spots, 10 wrinkles, 3 red patches, 300 pores; 1200 x 1600 px at 0.05 mm/px) "
        f"captured {n} times (the study has 40) with the study's perturbations and seeds, through each "
        "phone profile of `exoderm.skinlab.phone` (sharpening, edge-preserving denoise, local tone "
        "mapping, encoding, each shot's tuning ±5 %); the same seeds in every profile, so profiles "
        "differ only by their processing. Analysed by `pipeline.analyze` in the study's fixed region. "
        "The profiles are approximations of phone pipelines from their published descriptions and "
        "measured acutance, not measurements of particular devices (`skinlab/phone.py` says where "
        "each range comes from). HEIC is real HEVC (pillow-heif, x265 preset ultrafast). "
        f"With {n} captures a CV is known to about ±{100 / (2 * (n - 1)) ** 0.5:.0f} % of itself.",
        "",
        "| profile | processing |",
        "| --- | --- |",
    ]
    lines += [f"| `{p}` | {PHONE_PROFILES[p].description} |" for p in names]
    lines += [
        "",
        "### Repeatability: CV % per metric and profile",
        "",
        f"`{UNPROCESSED}` is the repeatability study's capture ({n} of its 40 seeds). Bold: SD more than "
        f"{RAISED_NOISE:g}x the unprocessed capture's (and above half the shipped SEM).",
        "",
        f"| metric | {head} | VISIA CV % |",
        "| --- | " + " | ".join("---:" for _ in names) + " | --- |",
    ]
    for k in METRIC_KEYS:
        cells = []
        for p in names:
            cv = f"{profiles[p]['stats'][k]['cv_pct']:.2f}"
            cells.append(f"**{cv}**" if p in found and k in found[p]["noise"] else cv)
        ref, label = VISIA_CV[k]
        lines.append(f"| `{k}` | {' | '.join(cells)} | {label if label != '—' else f'< {ref:g}'} |")
    lines += [
        "",
        "### Bias against the unprocessed capture",
        "",
        "Mean paired difference (profile − unprocessed, same seed) in the metric's units, with its "
        "ratio to the shipped close-up mdc in brackets; bold from "
        f"{RAISED_BIAS:g} mdc. A bias of an mdc or more is a false change whenever baseline and "
        "follow-up come from different pipelines (another phone, another camera mode).",
        "",
        f"| metric | shipped mdc | {' | '.join(f'`{p}`' for p in processed)} |",
        "| --- | ---: | " + " | ".join("---:" for _ in processed) + " |",
    ]
    for k in METRIC_KEYS:
        cells = []
        for p in processed:
            b, m = profiles[p]["bias"][k], result["mdc"][k]
            cell = f"{b:+.3g} ({b / m:+.1f})" if m else f"{b:+.3g}"
            cells.append(f"**{cell}**" if k in found[p]["bias"] else cell)
        lines.append(f"| `{k}` | {result['mdc'][k]:.3g} | {' | '.join(cells)} |")
    lines += [
        "",
        "### Accuracy against the design",
        "",
        "Relative error of the mean of the captures against the phantom's truth (one design, so this "
        "is the accuracy study's bias direction, not its spread over designs; the accuracy study "
        "itself runs without phone processing).",
        "",
        f"| metric | truth | target | {head} |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for k, target in ACCURACY_TARGETS.items():
        cells = [f"{100 * profiles[p]['accuracy'][k]:+.1f} %" for p in names]
        tgt = "—" if target is None else f"±{100 * target:g} %"
        lines.append(f"| `{k}` | {result['truth'][k]:.4g} | {tgt} | {' | '.join(cells)} |")
    lines += [
        "",
        "### False changes of the same skin",
        "",
        "`compare` with the shipped study on pairs of captures of the unchanged phantom: every pair "
        f"within one profile ({profiles[UNPROCESSED]['same_pairs']} pairs), and every unprocessed "
        "baseline against a processed follow-up of another seed (device or mode switched, "
        f"{profiles[processed[0]]['mixed_pairs']} pairs). Pairs with any metric called changed:",
        "",
        "| profile | same profile | unprocessed baseline, this follow-up |",
        "| --- | ---: | ---: |",
    ]
    for p in names:
        per = profiles[p]
        same = _rate(per["same_false"], per["same_pairs"])
        mixed = "—" if p == UNPROCESSED else _rate(per["mixed_false"], per["mixed_pairs"])
        lines.append(f"| `{p}` | {same} | {mixed} |")
    called = sorted(
        {k for p in names for k in profiles[p]["same_by_metric"]}
        | {k for p in processed for k in profiles[p]["mixed_by_metric"]},
        key=METRIC_KEYS.index,
    )
    if called:
        lines += [
            "",
            "Per metric (↓ called a decrease, for most metrics a false improvement; ↑ an increase):",
            "",
            "| metric | "
            + " | ".join(f"`{p}` same" for p in names)
            + " | "
            + " | ".join(f"raw → `{p}`" for p in processed)
            + " |",
            "| --- | " + " | ".join("---:" for _ in names + processed) + " |",
        ]
        for k in called:
            cells = [_pairs_cell(profiles[p]["same_by_metric"], k, profiles[p]["same_pairs"]) for p in names]
            cells += [
                _pairs_cell(profiles[p]["mixed_by_metric"], k, profiles[p]["mixed_pairs"]) for p in processed
            ]
            lines.append(f"| `{k}` | {' | '.join(cells)} |")
    lines += ["", "### What the processing raises, and what the clinic can do", ""]
    for p in processed:
        noise = ", ".join(f"`{k}`" for k in found[p]["noise"]) or "no metric"
        bias = ", ".join(f"`{k}`" for k in found[p]["bias"]) or "no metric"
        lines.append(f"- `{p}`: noise raised in {noise}; bias of half an mdc or more in {bias}.")
    lines += [
        "",
        "Sharpening and local tone mapping raise local contrast: the processed profiles read "
        "`texture_rms` and `tone_sd_L` higher than the unprocessed capture by one to several mdc, so a "
        "follow-up from another pipeline than its baseline's shows a false roughening (or, the other "
        "way round, a false smoothing). Strong sharpening and denoising also move the thresholded "
        "metrics (spots, wrinkles, pores): amplified capture noise crosses their thresholds now here, "
        "now there, which raises their shot-to-shot noise above the shipped mdc, and they shift in "
        "either direction, a false improvement of spot area included. The colour medians barely "
        "move. What the clinic "
        "can do:",
        "",
        "1. **Same device, same mode, for baseline and follow-up.** The bias table is the false change "
        "a switch produces; the app cannot take it out afterwards.",
        "2. **A capture mode without beauty, portrait, night or HDR processing**, with sharpening and "
        'scene optimisation turned off where the camera app allows it (the RAW or "Pro" mode, '
        "ProRAW or Expert RAW developed without sharpening; `pro-raw-like` above), and the highest "
        "JPEG or HEIC quality. A phone whose default resembles `android-aggressive` should not be "
        "used for skin measurements in its default mode.",
        "3. **A colour chart in the frame** calibrates exposure and white balance (the colour medians); "
        "it does not undo sharpening or tone mapping, which is why points 1 and 2 matter.",
        "",
        *WHAT_COMPARE_DOES,
    ]
    return "\n".join(lines)


#: What compare does with pairs the findings concern (not measured here: kept when the section is
#: rewritten).
WHAT_COMPARE_DOES = (
    "### What compare does with such pairs",
    "",
    (
        "Every analysis now records how strongly its photo was sharpened, measured from the pixels "
        "alone (`quality.edge_overshoot_pct`: the halo that sharpening leaves around the strongest "
        "edges, in % of their contrast; EXIF is not needed). `compare` does not judge the metrics "
        "this processing moves (`beyond_noise` null, the mdc still shown): spots, wrinkles, pores, "
        "`a_excess_mean`, `texture_rms` and `tone_sd_L` (`PROCESSING_SENSITIVE` in "
        "`skinlab/compare.py`), when either photo is sharpened more than the study behind their mdc "
        "covered, or when the two photos' overshoots differ by more than it covered (and by more than "
        "a quarter of the larger). The coverage per study is in the next section. A note says which "
        "photo, why and what to do: turn off the camera's sharpening, beauty, HDR and scene "
        "optimisation, or use its Pro or RAW mode, and keep one device and mode for every visit. The "
        "colour medians and `red_area_pct` are judged whatever the processing. The check before "
        "upload warns when a photo is sharpened beyond the coverage. So an `android-aggressive` pair "
        "of the same skin no longer shows a change, five spots cleared through it are left unjudged "
        "instead of counted as three, and a `pro-raw-like` baseline against an `android-aggressive` "
        "follow-up claims no improvement (`tests/skinlab/test_phone_processing.py`). Ordinary "
        "profiles are still judged. The overshoot sees sharpening, not denoising or local tone "
        "mapping: `android-default` reads 0.7 to 2.1 %, no more than a RAW-like capture pair may "
        "differ by, so a switch between a RAW-like mode and such a default is still judged, with the "
        "texture and tone bias of the table above. Same-pipeline pairs of the ordinary profiles: "
        "with a study of plain captures alone (engine 1.4.0) they were called changed in "
        "`texture_rms` in 4 (`iphone-default`) and 10 (`android-default`) of 66 pairs and in "
        "`tone_sd_L` in 0 and 4; since engine 1.5.0 the repeatability study captures through both "
        "default pipelines (the SD pooled within design and pipeline), and the table above is the "
        "result. The chart does not help against local tone mapping: `compare` uses the calibrated "
        "floor only for charts that fit as well as in the studies with a chart "
        "(`docs/engine-changelog.md`, 1.5.0)."
    ),
)


def edge_overshoot_coverage(groups: Mapping[str, Sequence[float | None]]) -> tuple[float, float] | None:
    """What a study's captures covered of sharpening: the largest edge overshoot (%) among them,
    and the largest difference between two captures of one group (one pipeline on one skin), each
    times :data:`COVERAGE_MARGIN` and rounded up to a whole %. ``groups``: the
    ``quality.edge_overshoot_pct`` of the captures whose noise the study's mdc holds, per pipeline
    and skin (None, an image without enough step edges, is left out); None when no capture had
    enough."""
    values = {name: [v for v in vs if v is not None] for name, vs in groups.items()}
    measured = [v for vs in values.values() for v in vs]
    if not measured:
        return None
    largest = max(measured)
    spread = max(max(vs) - min(vs) for vs in values.values() if vs)
    return float(math.ceil(COVERAGE_MARGIN * largest)), float(math.ceil(COVERAGE_MARGIN * spread))


def _design_overshoot(name: str, design: int, seed: int) -> float | None:
    """The edge overshoot of a capture of phantom design ``design`` through profile ``name``."""
    from exoderm.skinlab.quality import edge_overshoot_pct

    ph = make_phantom(**{**phantom_kwargs(), "seed": design}, perturb=Perturbation.random(seed, phone=name))
    region = np.zeros(ph.mask.shape, bool)
    region[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = True
    return edge_overshoot_pct(ph.rgb, region)


def _overshoot(record: dict[str, Any]) -> float | None:
    value = record["quality"]["edge_overshoot_pct"]
    return None if value is None else float(value)


def coverage(captures: int, fine_captures: int) -> str:
    """The ``skinlab-phone-sharpening`` section: the edge overshoot of each study's captures and
    of the phantom through each phone profile, and the coverage derived from them."""
    from bench.skinlab_repeatability import _face_record, _fine_face_record, _phantom_record

    study_seeds = range(STUDY_SEED, STUDY_SEED + 40)
    face_seeds = range(2000, 2040)
    with _pool() as pool:
        phantom = [_overshoot(r) for r in pool.map(_phantom_record, study_seeds)]
        face = [_overshoot(r) for r in pool.map(_face_record, [None, *face_seeds])]
        fine = [
            _overshoot(r) for r in pool.map(_fine_face_record, [None, *range(2000, 2000 + fine_captures)])
        ]
        jobs = [(name, STUDY_SEED + i) for name in PHONE_PROFILES for i in range(captures)]
        flat = [_overshoot(r) for r in pool.starmap(_capture, jobs)]
        seeds = range(STUDY_SEED, STUDY_SEED + COVERAGE_CAPTURES_PER_DESIGN)
        design_jobs = [(n, d) for n in ORDINARY for d in COVERAGE_DESIGNS]
        designs = {
            job: pool.starmap(_design_overshoot, [(*job, seed) for seed in seeds]) for job in design_jobs
        }
    phones = {name: flat[i * captures : (i + 1) * captures] for i, name in enumerate(PHONE_PROFILES)}
    studies = {
        "phantom": {
            "unprocessed": phantom,
            **{name: phones[name] for name in ORDINARY},
            **{f"{name}, design {d}": values for (name, d), values in designs.items()},
        },
        "real face": {"unprocessed": face},
        "real face, finer": {"unprocessed": fine},
    }
    rows = [
        "| captures | n | edge overshoot %, min to max | largest difference within | relative to largest |",
        "| --- | ---: | --- | ---: | ---: |",
    ]

    def row(label: str, values: list[float | None]) -> str:
        v = [x for x in values if x is not None]
        if not v:
            return f"| {label} | 0 of {len(values)} | not measured: too few step edges | | |"
        spread = max(v) - min(v)
        return f"| {label} | {len(v)} | {min(v):.1f} to {max(v):.1f} | {spread:.1f} | {spread / max(v):.2f} |"

    rows += [
        row("phantom study (close-up, 0.05 mm/px)", phantom),
        row("real face study (0.47 mm/px)", face),
        row("real face study, finer (0.14 mm/px)", fine),
    ]
    rows += [row(f"phantom through `{name}`", phones[name]) for name in PHONE_PROFILES]
    for name in ORDINARY:
        per_design = [[v for v in values if v is not None] for (n, _), values in designs.items() if n == name]
        flat_values = [v for g in per_design for v in g]
        spread = max(max(g) - min(g) for g in per_design)
        rows.append(
            f"| designs {COVERAGE_DESIGNS[0]}-{COVERAGE_DESIGNS[-1]} through `{name}` "
            f"({COVERAGE_CAPTURES_PER_DESIGN} captures each; difference within one design) | "
            f"{len(flat_values)} | {min(flat_values):.1f} to {max(flat_values):.1f} | {spread:.1f} | "
            f"{spread / max(flat_values):.2f} |"
        )
    covered = ["", "| study | overshoot covered % | difference covered % |", "| --- | ---: | ---: |"]
    for name, groups in studies.items():
        derived = edge_overshoot_coverage(groups)
        if derived is None:
            covered.append(f"| {name} | not measured | not measured |")
        else:
            covered.append(f"| {name} | {derived[0]:.0f} | {derived[1]:.0f} |")
    return "\n".join(
        [
            "### How strongly the captures were sharpened",
            "",
            f"Reproduce: `{COMMAND} --coverage` (engine {ENGINE_VERSION}). The edge overshoot of "
            "`skinlab.quality.edge_overshoot_pct` (the halo that sharpening leaves around the "
            "strongest edges, % of their contrast) of the repeatability study's captures and of the "
            f"phantom's first {captures} through each phone profile; for the finer face "
            f"{fine_captures} captures and the original (20 s each).",
            "",
            *rows,
            *covered,
            "",
            f"The coverage is the largest value and the largest difference within one pipeline on one "
            f"skin, times {COVERAGE_MARGIN} and rounded up to a whole %; the phantom's includes the "
            "ordinary profiles, on the study's design and on further ones "
            f"({', '.join(f'`{n}`' for n in ORDINARY)}), whose same-pipeline pairs the shipped "
            "mdc of spots, lines and pores judged as it judges unprocessed ones (texture and tone: see "
            "above). The real face study reads high without any "
            "phone: its photo's own processing and its 3x bicubic upscaling left a halo on the "
            "face's edges, which a measure from the pixels cannot tell from a camera's.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=12, help="captures per profile")
    ap.add_argument("--coverage", action="store_true", help="the edge overshoot each study covered")
    ap.add_argument("--fine-captures", type=int, default=6, help="finer face captures for --coverage")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    if args.coverage:
        section = coverage(args.captures, args.fine_captures)
        print(section)
        if not args.no_write:
            write_section("skinlab-phone-sharpening", section)
        return
    text = markdown(run(args.captures))
    print(text)
    if not args.no_write:
        write_section(
            "skinlab-phone",
            text + "\n\nRun on a shared 2-core box with other jobs running; no times are reported.",
        )


if __name__ == "__main__":
    main()
