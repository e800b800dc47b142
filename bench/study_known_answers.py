"""Study results against known answers: the drill of ``tests/study_results/test_known_answers.py``
(50 simulated split-face studies with a set effect and 50 null studies, phantom close-ups measured
by skinlab, GAIS ratings with a set shift, analysed by the app's analysis), its observed rates
written to docs/benchmarks.md.

Run ``uv run python -m bench.study_known_answers``. No database: the simulated studies are handed
to the analysis in memory (see ``tests/study_results/_known_answers.py``).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exoderm.settings")
django.setup()

from tests.study_results import _known_answers as ka  # noqa: E402

from bench._report import write_section  # noqa: E402

METHODS = {
    "paired_t": "paired t of the changes, L_median (split-face)",
    "mixed_model": "linear mixed model, visit x arm, L_median",
    "wilcoxon": "Wilcoxon signed-rank, Hodges-Lehmann shift of GAIS",
    "improved_or_better": "share of arm-A sides improved or better (Wilson)",
}


def _rate(count: int | None, studies: int) -> str:
    return "—" if count is None else f"{count}/{studies} ({100 * count / studies:.0f} %)"


def section(drill: ka.Drill) -> str:
    n = drill.studies
    rows = [
        f"| {label} | {_rate(drill.covered[key], n)} | {_rate(drill.null_significant.get(key), n)} "
        f"| {_rate(drill.detected.get(key), n)} |"
        for key, label in METHODS.items()
    ]
    return "\n".join(
        [
            "## Study results: known answers (bench/study_known_answers.py)",
            "",
            "Reproduce: `uv run python -m bench.study_known_answers` (the same seeded drill is asserted by "
            "`tests/study_results/test_known_answers.py`). "
            f"{n} simulated split-face studies of {ka.PARTICIPANTS} participants with a set effect and "
            f"{n} null studies. Each cheek is a phantom close-up ({ka.SHAPE[0]} x {ka.SHAPE[1]} px at "
            f"{ka.MM_PER_PX} mm/px) of a pigmented patch whose contrast (L*, baseline "
            f"{ka.BASELINE_CONTRAST[0]:g} ± {ka.BASELINE_CONTRAST[1]:g} over participants) fades by "
            f"{ka.FADING['A']:g} L* on the arm-A side and {ka.FADING['B']:g} L* on the arm-B side (± "
            f"{ka.FADING_SD:g} per side), photographed with exposure ± {100 * ka.EXPOSURE_SD:g} % and "
            f"sensor noise SD {ka.SENSOR_NOISE_SD:g}, measured by skinlab (`analyze`, region `full`, "
            "`L_median`). Two raters score each side on GAIS: the true grade plus an error of -1, 0 or +1 "
            "(0.2, 0.6, 0.2); arm A's true grade one better than arm B's. Null studies: arm A fades and "
            "is rated like arm B. Every study goes through the app's analysis of a split-face study.",
            "",
            "True effects, measured rather than assumed: the difference of the changes in `L_median` "
            f"is {drill.true_metric_effect:.3f} L* (mean over {ka.CALIBRATION_DESIGNS} noise-free "
            "participants' close-ups at the two follow-up contrasts; the design sets 2); the "
            f"pseudo-median of the GAIS difference is {drill.true_gais_shift:g} and the share of arm-A "
            f"sides improved or better {drill.true_improved_share:.2f} (both from the distributions "
            "drawn from).",
            "",
            "| method | CI covers the true effect | null study significant | effect found |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            "Significant: p < 0.05.",
            f"Acceptance: coverage at least {ka.COVERAGE_AT_LEAST}/{n} (90 %; a correct 95 % interval "
            f"falls below it with a chance of 3.8 %), null studies significant at most {ka.NULL_AT_MOST}/{n} "
            "(the smallest bound a true 5 % exceeds with a chance under 1 %: 8 or more has 0.3 %, 7 or "
            "more 1.2 %). Deliberately wrong answers fail these bounds: the paired t interval at half "
            f"its width covers in {_rate(drill.wrong['paired_t_half_width'], n)} and calls "
            f"{_rate(drill.wrong['paired_t_half_width_null'], n)} null studies significant, at twice its "
            f"width it finds the effect in {_rate(drill.wrong['paired_t_double_width_detected'], n)}; "
            "the Wilcoxon "
            "interval covers a shift half a grade off the truth in "
            f"{_rate(drill.wrong['wilcoxon_off_by_half'], n)}. The GAIS intervals are conservative "
            "(ties of an ordinal scale). The drill took "
            f"{drill.cpu_seconds:.0f} s of CPU time (load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores at its end: its wall-clock time depends on what shares the cores).",
        ]
    )


def main() -> None:
    drill = ka.run_drill()
    write_section("study-known-answers", section(drill))
    print(section(drill))


if __name__ == "__main__":
    main()
