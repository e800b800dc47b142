"""A whole simulated split-face trial through the API, and the blinding check over it.

A double-blind trial in the style of Park et al. 2022: microneedling of the whole face, an
exosome serum (arm A) on one half and a vehicle (arm B) on the other, three sessions three weeks
apart, the primary endpoint GAIS by blinded raters six weeks after the last session. The clinic's
calendar is run backwards: the first sessions lay 13 weeks ago, so every session and photo is in
the past when it is charted.

Two patients are refused (no research consent, not eligible), 24 are enrolled and randomized; the
unblinded coordinator prepares a coded kit per session from real vials of each arm's lot; the
treating clinician charts from the kits (refused where the protocol says: a half without its
procedure, a quarantined lot behind a kit); phantom close-ups of each cheek at baseline and at the
last follow-up (the exosome side clears more spots) are analysed by the real worker; two raters
judge the de-identified photos; adverse events, satisfaction, a withdrawal, deviations (a session
out of its window, a missed session, a wrong side, an unblinding) are recorded.

Blinding check: every response body and header the blinded roles (the treating clinician and both
raters; the principal investigator until the emergency unblinding at the end) received is kept
and searched for the allocation: arm codes as allocations (``"face_left": "A"``, ``"arm": "B"``),
the arms' names and products, the lots' numbers, the fields that carry them and the seed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test.client import MULTIPART_CONTENT
from django.utils import timezone
from PIL import Image, ImageStat
from scipy.stats import binomtest

from exoderm import skinlab
from exoderm.consent.models import ConsentKind
from exoderm.products.services import quarantine_lot, release_lot
from exoderm.skinlab.phantom import make_phantom
from exoderm.studies import services
from exoderm.studies.models import AllocationSlot, Deviation
from tests import factories

PARTICIPANTS = 24
PHOTO_SIDE = 160
SPOTS = 24
# A small close-up (160 x 213 px) of a 4 x 5 cm cheek patch: room for all its spots.
CHEEK_MM_PER_PX = 0.25


class Recorder:
    """An API client that keeps every response it received (for the blinding check)."""

    def __init__(self, api, log):
        self.api, self.log = api, log

    def __getattr__(self, method):
        def call(*args, **kwargs):
            response = getattr(self.api, method)(*args, **kwargs)
            headers = "\n".join(f"{name}: {value}" for name, value in response.items())
            self.log.append((f"{method.upper()} {args[0]}", headers, response.content.decode("latin-1")))
            return response

        return call


def _iso(moment):
    return moment.isoformat()


@pytest.fixture
def repeatability(tmp_path, monkeypatch):
    study = tmp_path / "repeatability.json"
    metrics = {"spot_count": {"sem": 1.0, "mdc": 3.0}}
    study.write_text(json.dumps({"engine_version": skinlab.ENGINE_VERSION, "metrics": metrics}))
    monkeypatch.setattr(importlib.import_module("exoderm.skinlab.compare"), "REPEATABILITY_PATH", study)


@pytest.mark.django_db(transaction=True)
def test_a_split_face_trial_end_to_end_never_shows_the_allocation_to_blinded_roles(
    api_as, clinic, clinic_admin, settings, tmp_path, repeatability, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    scene = factories.SplitFaceStudyScene(
        clinic,
        vials=3 * PARTICIPANTS + 4,
        criteria=[
            services.CriterionInput(kind="inclusion", subject="age", min_value=18, max_value=70),
            services.CriterionInput(kind="exclusion", subject="screening", screening_item="pregnancy"),
        ],
    )
    study = scene.study.pk
    blinded_log: list[tuple[str, str, str]] = []
    pi_log: list[tuple[str, str, str]] = []
    clinician = Recorder(api_as(scene.clinician), blinded_log)
    raters = [Recorder(api_as(rater), blinded_log) for rater in scene.raters]
    pi = Recorder(api_as(scene.pi), pi_log)
    coordinator = api_as(scene.coordinator)
    base = f"/studies/{study}"

    today = timezone.localdate()
    now = timezone.now().replace(second=0, microsecond=0)
    first_day = now - dt.timedelta(weeks=13)
    long_ago = now - dt.timedelta(days=200)
    photography = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY, version=1)

    # -- enrolment: two refusals, then 24 participants ----------------------------------------
    unconsented = scene.patient(research_consent=False, consented_at=long_ago)
    refused = coordinator.post(f"{base}/participants", {"patient": unconsented.pk})
    assert (
        refused.status_code == 422 and refused.json()["violations"][0]["rule"] == "research-consent-missing"
    )
    pregnant = scene.patient(consented_at=long_ago, pregnancy=True)
    refused = coordinator.post(f"{base}/participants", {"patient": pregnant.pk})
    assert refused.status_code == 422
    assert refused.json()["violations"][0]["criterion"] == "exclusion:screening:pregnancy"

    participants = []
    for n in range(PARTICIPANTS):
        patient = scene.patient(consented_at=long_ago)
        # The screening valid at the first sessions (the protocol counts it 90 days).
        factories.screen_patient(patient, answered_on=today - dt.timedelta(days=94))
        factories.ConsentRecordFactory(patient=patient, template=photography, signed_at=long_ago)
        first_session = first_day + dt.timedelta(hours=n % 6, days=n // 6)
        enrolled = coordinator.post(
            f"{base}/participants",
            {"patient": patient.pk, "first_session_at": _iso(first_session), "clinician": scene.clinician.pk},
        )
        assert enrolled.status_code == 201, enrolled.content
        participants.append({**enrolled.json(), "patient_obj": patient})
    flow = pi.get(f"{base}/flow").json()
    assert (flow["assessed"], flow["excluded"], flow["enrolled"]) == (25, 1, 24)

    # -- the coordinator reveals each allocation and prepares kits from the arms' lots ---------
    stock = {"A": list(scene.exosome_vials), "B": list(scene.vehicle_vials)}
    for participant in participants:
        allocation = coordinator.get(f"{base}/participants/{participant['id']}/allocation").json()
        participant["truth"] = allocation
        participant["visits"] = clinician.get(f"{base}/participants/{participant['id']}/visits").json()
    assert sum(p["truth"]["face_left"] == "A" for p in participants) == PARTICIPANTS // 2  # blocks of 4

    def session_time(participant, number):
        planned = next(
            v for v in participant["visits"] if v["kind"] == "session" and v["session_number"] == number
        )
        return dt.datetime.fromisoformat(planned["planned_at"])

    def prepare(participant, number, *, at):
        vials = {"left": stock[participant["truth"]["face_left"]].pop(0).pk}
        vials["right"] = stock[participant["truth"]["face_right"]].pop(0).pk
        kit = coordinator.post(
            f"{base}/kits",
            {
                "participant": participant["id"],
                "session_number": number,
                "vials": vials,
                "thawed_at": _iso(at),
            },
        )
        assert kit.status_code == 201, kit.content
        assert {v["arm"] for v in kit.json()["vials"]} == {"A", "B"}
        return kit.json()["code"]

    def chart(participant, number, kit, at, *, procedure_areas=("face",), late=0):
        body = {
            "kit": kit,
            "performed_at": _iso(at),
            "procedures": [
                {
                    "kind": "microneedling",
                    "areas": list(procedure_areas),
                    "started_at": _iso(at),
                    "ended_at": _iso(at + dt.timedelta(minutes=20)),
                    "params": {"needle_depth_mm": 1.0, "passes": 3},
                }
            ],
            "applications": [
                {"side": side, "volume_ml": 1.5, "applied_at": _iso(at + dt.timedelta(minutes=25 + late))}
                for side in ("face_left", "face_right")
            ],
        }
        return clinician.post(f"{base}/participants/{participant['id']}/sessions", body)

    # -- sessions: the protocol applies to both halves, the lot rules to the kit's vials -------
    withdrawn, missing_third, late_second = participants[5], participants[9], participants[14]
    sessions = {}
    for number in (1, 2, 3):
        for participant in participants:
            if number == 3 and participant in (withdrawn, missing_third):
                continue
            at = session_time(participant, number) + (
                dt.timedelta(days=6) if participant is late_second and number == 2 else dt.timedelta(0)
            )
            kit = prepare(participant, number, at=at + dt.timedelta(minutes=10))
            if participant is participants[0] and number == 1:
                one_half = chart(participant, number, kit, at, procedure_areas=("face_left",))
                assert one_half.status_code == 422
                assert [v["rule"] for v in one_half.json()["violations"]] == ["application-area-not-treated"]
                quarantine_lot(lot=scene.vehicle_lot, reason="logger gap under review", by=clinic_admin)
                quarantined = chart(participant, number, kit, at)
                assert quarantined.status_code == 422
                [lot_rule] = quarantined.json()["violations"]
                assert lot_rule["rule"] == "lot-not-usable" and lot_rule["field"] == "kit"
                release_lot(lot=scene.vehicle_lot, reason="gap explained: logger swap", by=clinic_admin)
                too_late = chart(participant, number, kit, at, late=40)
                assert {v["rule"] for v in too_late.json()["violations"]} == {"application-window"}
            charted = chart(participant, number, kit, at)
            assert charted.status_code == 201, charted.content
            sessions[(participant["id"], number)] = charted.json()["session"]
            assert chart(participant, number, kit, at).json()["violations"][0]["rule"] == "kit-used"
        if number == 2:
            gone = clinician.post(
                f"{base}/participants/{withdrawn['id']}/withdrawal", {"reason": "moved away"}
            )
            assert gone.json()["status"] == "withdrawn"
    other_kit = clinician.post(
        f"{base}/participants/{participants[1]['id']}/sessions", {**_plain_session(), "kit": "K-99999"}
    )
    assert other_kit.json()["violations"][0]["rule"] == "wrong-kit"

    # The blinded clinician reads their sessions: kits and labels, no lots or vials.
    detail = clinician.get(f"/sessions/{sessions[(participants[0]['id'], 1)]}").json()
    assert {a["kit"].split()[1] for a in detail["applications"]} == {"left", "right"}
    assert all(a["lot"] is None and a["vial"] is None for a in detail["applications"])
    clinician.get(f"/sessions?patient={participants[0]['patient']}")
    clinician.get(f"{base}/kits")
    clinician.get(f"{base}")
    assert clinician.get(f"{base}/participants/{participants[0]['id']}/allocation").status_code == 403

    # -- photos of each cheek at baseline and six weeks after the last session ----------------
    photos = {}
    with django_capture_on_commit_callbacks(execute=True):
        for index, participant in enumerate(participants):
            if participant is withdrawn:
                continue
            final = next(
                v for v in participant["visits"] if v["kind"] == "follow_up" and v["session_number"] == 3
            )
            for side, area in (("face_left", "cheek_left"), ("face_right", "cheek_right")):
                seed = 1000 + 2 * index + (side == "face_right")
                cleared = 12 if participant["truth"][side] == "A" else 3
                for timepoint, taken, design in (
                    ("baseline", session_time(participant, 1) - dt.timedelta(hours=1), {}),
                    ("follow_up", dt.datetime.fromisoformat(final["planned_at"]), {"spots_cleared": cleared}),
                ):
                    form = {
                        "patient": participant["patient"],
                        "view": "close_up",
                        "area": area,
                        "timepoint": timepoint,
                        "mm_per_px": str(CHEEK_MM_PER_PX),
                        "taken_at": _iso(taken),
                        "file": SimpleUploadedFile(
                            "cheek.png",
                            _cheek_png(seed, **design),
                            "image/png",
                        ),
                    }
                    if timepoint == "follow_up":
                        form["visit"] = final["id"]
                    uploaded = clinician.post("/photos", form, content_type=MULTIPART_CONTENT)
                    # (the photo API answers 200 where it means 201 with this django-ninja)
                    assert uploaded.status_code in {200, 201}, uploaded.content
                    photos[(participant["id"], side, timepoint)] = uploaded.json()["id"]
    assert len(set(photos.values())) == len(photos) == 4 * (PARTICIPANTS - 1), "every photo stored anew"
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    assert all(clinician.get(f"/photos/{pk}/status").json()["analysed"] for pk in photos.values())
    sample = participants[0]
    exosome_side = "face_left" if sample["truth"]["face_left"] == "A" else "face_right"
    compared = clinician.get(
        f"/photos/compare?before={photos[(sample['id'], exosome_side, 'baseline')]}"
        f"&after={photos[(sample['id'], exosome_side, 'follow_up')]}"
    ).json()
    spots = next(c for c in compared["regions"]["full"] if c["key"] == "spot_count")
    assert spots["verdict"] == "beyond_noise" and spots["words"].startswith("lower by")

    # -- blinded rating -----------------------------------------------------------------------
    prepared = pi.post(f"{base}/rating-tasks").json()
    assert prepared["created"] == PARTICIPANTS - 1  # everyone but the withdrawn participant
    assert pi.post(f"{base}/rating-tasks").json()["created"] == 0
    orders = []
    for number, rater in enumerate(raters):
        queue = rater.get(f"{base}/rating-tasks").json()
        assert len(queue) == PARTICIPANTS - 1 and all(task["my_rating"] is None for task in queue)
        orders.append([task["id"] for task in queue])
        for task in queue:
            change = {}
            for side in task["sides"]:
                urls = {image["timepoint"]: image["url"] for image in side["images"]}
                assert set(urls) == {"baseline", "follow_up"} and all(
                    "/rating-images/" in u for u in urls.values()
                )
                change[side["side"]] = _brightness(rater, urls["follow_up"]) - _brightness(
                    rater, urls["baseline"]
                )
            better = max(change, key=change.get)
            worse = min(change, key=change.get)
            scores = {better: "much_improved" if number == 0 else "very_much_improved", worse: "improved"}
            rated = rater.post(
                f"{base}/ratings", {"task": task["id"], "scores": scores, "better_side": better}
            )
            assert rated.status_code == 201, rated.content
        again = rater.post(
            f"{base}/ratings", {"task": queue[0]["id"], "scores": scores, "better_side": better}
        )
        assert again.status_code == 422
    assert orders[0] == orders[1]  # one random order of the tasks, not the enrolment order
    assert orders[0] != sorted(orders[0]) or len(orders[0]) < 3
    mine = raters[1].get(f"{base}/rating-tasks").json()
    first_scores = {t["id"]: t["my_rating"]["scores"] for t in raters[0].get(f"{base}/rating-tasks").json()}
    assert all("very_much_improved" in t["my_rating"]["scores"].values() for t in mine), "only their own"
    assert all("very_much_improved" not in s.values() for s in first_scores.values())
    assert raters[0].get(f"{base}/ratings").status_code == 403

    # -- patient-reported satisfaction, adverse events, deviations ----------------------------
    for participant in participants[:4]:
        final = next(
            v for v in participant["visits"] if v["kind"] == "follow_up" and v["session_number"] == 3
        )
        told = clinician.post(
            f"{base}/participants/{participant['id']}/satisfaction",
            {"visit": final["id"], "scores": {"face_left": 4, "face_right": 3}},
        )
        assert told.status_code == 201, told.content
    erythema = {
        "participant": participants[2]["id"],
        "term": "erythema",
        "onset": str((session_time(participants[2], 1) + dt.timedelta(days=1)).date()),
        "resolved_on": str((session_time(participants[2], 1) + dt.timedelta(days=3)).date()),
        "severity": 1,
        "serious": False,
        "related_to_procedure": "probable",
        "related_to_product": "possible",
        "side": "face_left",
        "session": sessions[(participants[2]["id"], 1)],
    }
    assert clinician.post(f"{base}/adverse-events", erythema).status_code == 201
    serious = {**erythema, "term": "infection", "severity": 3, "serious": True, "side": "face_right"}
    del serious["resolved_on"]
    assert clinician.post(f"{base}/adverse-events", serious).status_code == 422, (
        "a serious event needs its report"
    )
    reported = clinician.post(f"{base}/adverse-events", {**serious, "report_date": str(today)})
    assert reported.status_code == 201, reported.content
    events = pi.get(f"{base}/adverse-events").json()
    assert {(e["term"], e["side"]) for e in events} == {
        ("erythema", "face_left"),
        ("infection", "face_right"),
    }

    wrong_side = clinician.post(
        f"{base}/deviations",
        {
            "participant": participants[3]["id"],
            "kind": "wrong_side",
            "description": "Vial labelled left applied to the right half, noticed at once.",
            "occurred_on": str(session_time(participants[3], 2).date()),
        },
    )
    assert wrong_side.status_code == 201, wrong_side.content
    assert clinician.post(f"{base}/deviations/overdue-visits").json()["recorded"] >= 1
    kinds = {(d["participant"], d["kind"]) for d in pi.get(f"{base}/deviations").json()}
    assert (late_second["id"], "visit_out_of_window") in kinds
    assert (missing_third["id"], "missed_session") in kinds
    assert (participants[3]["id"], "wrong_side") in kinds
    assert not any(pid == withdrawn["id"] and kind == "missed_session" for pid, kind in kinds)

    # -- the blinding check -------------------------------------------------------------------
    seed = coordinator.get(f"{base}/randomization").json()["seed"]
    allocation_shapes = re.compile(r'"(face_left|face_right|arm)"\s*:\s*"[AB]"')
    concealed_fields = re.compile(
        r'"(arm|arm_left|arm_right|arms|product|product_name|lot|lot_number|vials|vial|vial_serial|prepared_at)"'
        r'\s*:\s*+(?!null|""|\[\])'
    )
    secrets_of_the_arms = [
        "Exosome serum", "Vehicle", scene.exosome.name, scene.vehicle.name,
        scene.exosome_lot.number, scene.vehicle_lot.number, seed,
    ]  # fmt: skip
    assert len(blinded_log) > 4 * PARTICIPANTS * 3
    for request, headers, body in blinded_log:
        for text in (headers, body):
            assert not allocation_shapes.search(text), (request, text[:300])
            found = concealed_fields.search(text)
            assert found is None, (request, found.group(0) if found else "")
            for secret in secrets_of_the_arms:
                assert secret not in text, (request, secret)
    for request, headers, body in pi_log:
        for text in (headers, body):
            assert not allocation_shapes.search(text), (request, text[:300])
            assert scene.exosome_lot.number not in text and seed not in text

    # -- emergency unblinding of one participant, then the result -------------------------------
    unblinded = pi.post(
        f"{base}/participants/{participants[2]['id']}/unblinding",
        {"reason": "Grade 3 infection on the right half: treating physician needs to know the product."},
    )
    assert unblinded.json() == participants[2]["truth"]
    assert pi.get(f"{base}/participants/{participants[2]['id']}/allocation").status_code == 200
    assert pi.get(f"{base}/participants/{participants[3]['id']}/allocation").status_code == 403
    assert Deviation.objects.filter(participant_id=participants[2]["id"], kind="unblinding").exists()

    ratings = coordinator.get(f"{base}/ratings").json()
    assert len(ratings) == 2 * (PARTICIPANTS - 1)
    truth = {slot.participant_id: slot for slot in AllocationSlot.objects.filter(study_id=study)}
    for rater in scene.raters:
        own = [r for r in ratings if r["rater"] == rater.pk]
        exosome_better = sum(
            r["better_side"] == ("face_left" if truth[r["participant"]].arm_left == "A" else "face_right")
            for r in own
        )
        # The blinded raters found the exosome half improved more: a sign test as in Park et al.
        assert binomtest(exosome_better, len(own), 0.5, alternative="greater").pvalue < 0.005


def _brightness(rater, url):
    """The mean lightness of a rating photo (fewer pigmented spots: a lighter cheek)."""
    response = rater.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as image:
        assert not image.getexif(), "no metadata in a rating photo"
        return ImageStat.Stat(image.convert("L")).mean[0]


def _cheek_png(seed, **design):
    phantom = make_phantom(
        shape=(PHOTO_SIDE, PHOTO_SIDE * 4 // 3),
        mm_per_px=CHEEK_MM_PER_PX,
        seed=seed,
        spots=SPOTS,
        # fewer pores, wrinkles and red patches than a real cheek: quicker to draw, same spots
        pores=40,
        wrinkles=2,
        red_patches=1,
        **design,
    )
    out = io.BytesIO()
    Image.fromarray(phantom.rgb).save(out, "PNG")
    return out.getvalue()


def _plain_session():
    at = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    return {
        "performed_at": _iso(at),
        "procedures": [
            {
                "kind": "microneedling",
                "areas": ["face"],
                "started_at": _iso(at),
                "ended_at": _iso(at + dt.timedelta(minutes=20)),
                "params": {"needle_depth_mm": 1.0, "passes": 3},
            }
        ],
        "applications": [
            {
                "side": "face_left",
                "volume_ml": float(Decimal("1.5")),
                "applied_at": _iso(at + dt.timedelta(minutes=25)),
            }
        ],
    }
