"""skinlab's remarks in the user's language: why a photo cannot be compared, in German too."""

from __future__ import annotations

import cv2
import pytest
from django.utils import translation

from exoderm.photos.selectors import METRICS, MetricChange, Verdict
from exoderm.photos.wording import metric_label, word_problem, word_remark
from exoderm.skinlab.compare import compare
from exoderm.skinlab.pipeline import Analysis, analyze
from tests.skinlab._images import astronaut_face


@pytest.fixture(scope="module")
def unusable_reason():
    """The reason skinlab gives for a sharp baseline against a blurred, turned follow-up, as the
    web app compares them: from the stored records."""
    face = astronaut_face(2048)  # about 0.35 mm per pixel: fine enough to be usable
    before = analyze(face)
    assert before.quality.usable
    after = analyze(cv2.GaussianBlur(face, (0, 0), 16))
    after.quality.pose = {"yaw": 33.0, "pitch": 0.0, "roll": 0.0}  # as if turned away
    stored = [Analysis.from_dict(a.to_dict()) for a in (before, after)]
    c = compare(*stored, heatmap=False)
    (reason,) = [r for r in c.reasons if r.kind == "unusable"]
    return reason


def test_an_unusable_photo_is_explained_in_german(unusable_reason):
    with translation.override("de"):
        text = word_remark(unusable_reason)
    assert text.startswith("das Nachher-Foto ist nicht verwendbar: unscharf: Schärfe 0,")
    assert "Kopfhaltung über ±20° hinaus: Drehung (Kopf seitlich gedreht) +33°" in text
    assert "blurred" not in text and "sharpness" not in text


def test_and_in_english_as_skinlab_words_it(unusable_reason):
    with translation.override("en"):
        text = word_remark(unusable_reason)
    assert text.startswith("the after photo cannot be used: blurred: sharpness 0.")
    assert "head pose beyond ±20°: yaw (head turned) +33°" in text


def test_every_problem_kind_is_worded():
    from exoderm.skinlab.quality import Quality, usability_problems

    q = Quality(0.05, 12.5, {"yaw": -25.0, "pitch": 0.0, "roll": 0.0}, False, [])
    problems = usability_problems(q, mm_per_px=0.7) + usability_problems(
        Quality(0.5, 0.0, None, False, ["no face found"]), mm_per_px=None
    )
    assert [p.kind for p in problems] == ["blurred", "clipped", "pose_beyond", "resolution", "no_face"]
    with translation.override("de"):
        worded = [word_problem(p) for p in problems]
    assert worded == [
        "unscharf: Schärfe 0,05 < 0,12",
        "Belichtung: 12,5 % der Pixel über- oder unterbelichtet (mehr als 5 %)",
        "Kopfhaltung über ±20° hinaus: Drehung (Kopf seitlich gedreht) −25°",
        "Auflösung zu gering: 0,70 mm pro Pixel (mehr als 0,50)",
        "kein Gesicht gefunden",
    ]


def test_numbers_are_rounded_not_cut_off():
    from exoderm.skinlab.quality import Quality, usability_problems

    (turned,) = usability_problems(Quality(0.5, 0.0, {"yaw": -25.6}, False, []), mm_per_px=0.2)
    with translation.override("de"):
        assert word_problem(turned) == "Kopfhaltung über ±20° hinaus: Drehung (Kopf seitlich gedreht) −26°"


def test_the_calibrated_noise_floor_is_named_in_german():
    from exoderm.skinlab.compare import load_repeatability

    study, _ = load_repeatability()
    assert study is not None
    _, notes = study.table(0.4, chart_fit=0.5)
    (note,) = [n for n in notes if n.kind == "calibrated_study"]
    with translation.override("de"):
        text = word_remark(note)
    assert text.startswith("Beide Fotos wurden mit einer Farbkarte kalibriert")
    with translation.override("en"):
        assert word_remark(note).startswith("Both photos were calibrated with a colour chart")


def test_a_poor_chart_fit_is_explained_in_german():
    from exoderm.skinlab.compare import load_repeatability

    study, _ = load_repeatability()
    assert study is not None
    _, notes = study.table(0.4, chart_fit=3.25)
    (note,) = [n for n in notes if n.kind == "chart_fit"]
    with translation.override("de"):
        text = word_remark(note)
    assert text.startswith("Beide Fotos wurden mit einer Farbkarte kalibriert, aber")
    assert "3,25" in text
    with translation.override("en"):
        assert "judged as for uncalibrated photos" in word_remark(note)


@pytest.mark.parametrize(
    ("language", "delta", "words"),
    [
        ("en", -49.64, "lower by 49.64"),
        ("de", -49.64, "niedriger um 49,64"),
        ("de", 2.1, "höher um 2,1"),
        ("de", -131.4, "niedriger um 131"),
        ("en", 0.5, "higher by 0.5"),
    ],
)
def test_a_change_is_worded_in_the_languages_number_format(language, delta, words):
    change = MetricChange(
        "spot_area_mm2", "spot area", 86.7, 86.7 + delta, delta, 0.74, Verdict.BEYOND_NOISE, True
    )
    with translation.override(language):
        assert change.words == words


def test_fine_metrics_left_unjudged_for_focus_are_named_with_the_softer_photo():
    """A baseline in focus against a soft follow-up of the same phantom at face scale."""
    from exoderm.skinlab.phantom import Perturbation, make_phantom

    def capture(blur_px: float, seed: int) -> Analysis:
        ph = make_phantom(
            shape=(600, 800), mm_per_px=0.15, seed=0,
            perturb=Perturbation(noise_sd=2.0, blur_sigma_px=blur_px, jpeg_quality=90, seed=seed),
        )  # fmt: skip
        a = analyze(ph.rgb, roi="full", mm_per_px=0.15, find_face=False, keep_arrays=False)
        return Analysis.from_dict(a.to_dict())

    c = compare(capture(0.6, 1), capture(1.8, 2), heatmap=False)
    (note,) = [n for n in c.notes if n.kind == "focus"]
    with translation.override("en"):
        text = word_remark(note)
    assert text.startswith("The after photo is softer than the before photo (0.")
    assert "fine roughness, fine lines (count), fine line density (mm/cm²), fine line length (mm)" in text


def test_metrics_left_unjudged_for_the_cameras_processing_are_named_with_what_to_do():
    from exoderm.skinlab.remark import Remark

    sharpened = Remark(
        "engine's English",
        "sharpened",
        metrics=["spot_count", "texture_rms"],
        photo="after",
        value=14.6,
        limit=6.0,
    )
    differs = Remark(
        "engine's English", "processing_differs", metrics=["tone_sd_L"], before=0.42, after=3.1, limit=2.0
    )
    with translation.override("en"):
        text, other = word_remark(sharpened), word_remark(differs)
    assert text.startswith(
        "The after photo looks strongly sharpened by the camera (edges overshoot by 15 %, "
    )
    assert "more than the 6 % the repeatability study covered" in text
    assert "Pro or RAW mode, and with one device and mode at every visit." in text
    assert other.startswith(
        "The camera processed the two photos differently (edges overshoot by 0.4 % before "
    )
    assert "and 3.1 % after" in other and "one device and mode at every visit" in other


@pytest.mark.parametrize("language", ["de", "en"])
def test_a_metric_has_one_name_in_the_summary_and_on_the_pages(language):
    """The patient's summary names each metric as the comparison table does (the table said
    "Intensität der Rötung" beside the summary's "Stärke der Rötung"), whatever language is active."""
    other = "en" if language == "de" else "de"
    for key, (label, _direction) in METRICS.items():
        with translation.override(language):
            page_name = str(label)
        with translation.override(other):
            assert metric_label(key, language) == page_name, key
