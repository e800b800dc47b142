"""Permuted-block randomization: balanced within every block and stratum, reproducible from the
recorded seed, and unpredictable from what blinded users see.

The inference test enrols participants in two strata, prepares a kit for each, and reads, as the
blinded treating clinician, everything the API shows them (participant ids, enrolment times and
order, kit codes and their order). Simple predictors of "arm A on the left" built from each of
those must do no better than chance. The bound: under the null hypothesis (the observable carries
no information) the number of correct predictions of one predictor over N participants is
Binomial(N, 1/2); a predictor fails the test when it is right at least as often as the binomial's
upper quantile at alpha = 1e-4 (one-sided, Bonferroni-adjusted over the predictors, so a fair list
fails by chance with probability below 1e-4 · predictors). The test also shows the bound has power:
a predictor that does see a leaking signal (the slot's own list position in a sorted-by-arm
ordering) lies far above it.
"""

from __future__ import annotations

from collections import Counter

import pytest
from scipy.stats import binom

from exoderm.studies import randomization, services
from exoderm.studies.models import AllocationSlot
from tests import factories

ALPHA = 1e-4


def test_every_block_holds_each_treatment_equally_often():
    seed = randomization.new_seed()
    for treatments, size in ((("AB", "BA"), 4), (("AB", "BA"), 6), (("A", "B", "C"), 6), (("A",), 3)):
        slots = randomization.blocks(seed, stratum="s", first=1, count=50, size=size, treatments=treatments)
        assert [slot.sequence for slot in slots] == list(range(1, 50 * size + 1))
        for number in range(1, 51):
            counts = Counter(slot.treatment for slot in slots if slot.block == number)
            assert counts == dict.fromkeys(treatments, size // len(treatments))


def test_the_shuffle_is_uniform_over_the_orders_of_a_block():
    """All 6 orders of a block of 4 (AB, AB, BA, BA) appear about equally often (chi-square)."""
    from scipy.stats import chisquare

    seed = randomization.new_seed()
    orders = Counter(
        "".join(randomization.block(seed, stratum="", number=n, size=4, treatments=("AB", "BA")))
        for n in range(1, 3001)
    )
    assert len(orders) == 6
    assert chisquare(list(orders.values())).pvalue > ALPHA


def test_a_keyed_stream_draws_without_bias():
    stream = randomization.KeyedStream(randomization.new_seed(), "label")
    draws = Counter(stream.below(3) for _ in range(6000))
    from scipy.stats import chisquare

    assert set(draws) == {0, 1, 2} and chisquare(list(draws.values())).pvalue > ALPHA


@pytest.fixture
def stratified(clinic):
    return factories.SplitFaceStudyScene(
        clinic, vials=70, stratification="fitzpatrick_group", block_size=4, slots_per_stratum=16
    )


def _enrol(scene, count):
    """``count`` participants, alternating between the strata (types 2 and 5)."""
    return [scene.participant(scene.patient(fitzpatrick=2 if n % 2 else 5)) for n in range(count)]


def test_the_list_is_balanced_per_stratum_and_block_and_reproducible_from_its_seed(api_as, stratified):
    scene = stratified
    participants = _enrol(scene, 40)  # 20 per stratum: beyond the 16 drawn first, so the list grows
    seed = api_as(scene.coordinator).get(f"/studies/{scene.study.pk}/randomization").json()["seed"]
    for blinded in (scene.pi, scene.clinician, scene.raters[0]):
        assert api_as(blinded).get(f"/studies/{scene.study.pk}/randomization").status_code == 403
    for stratum in ("fitzpatrick_1_3", "fitzpatrick_4_6"):
        slots = list(AllocationSlot.objects.filter(study=scene.study, stratum=stratum).order_by("sequence"))
        assert len(slots) == 20  # 16 drawn in advance, then one more block
        for block in {slot.block for slot in slots}:
            counts = Counter(slot.arm_left + slot.arm_right for slot in slots if slot.block == block)
            assert counts == {"AB": 2, "BA": 2}
        again = randomization.blocks(
            seed, stratum=stratum, first=1, count=5, size=4, treatments=randomization.SPLIT_FACE_ORDERS
        )
        assert [slot.arm_left + slot.arm_right for slot in slots] == [s.treatment for s in again]
        taken = [slot for slot in slots if slot.participant_id is not None]
        assert [slot.sequence for slot in taken] == list(range(1, 21)), "revealed in list order"
    assert {p.stratum for p in participants} == {"fitzpatrick_1_3", "fitzpatrick_4_6"}
    other = randomization.blocks(
        randomization.new_seed(),
        stratum="",
        first=1,
        count=8,
        size=4,
        treatments=randomization.SPLIT_FACE_ORDERS,
    )
    mine = randomization.blocks(
        seed, stratum="", first=1, count=8, size=4, treatments=randomization.SPLIT_FACE_ORDERS
    )
    assert [s.treatment for s in other] != [s.treatment for s in mine]


def _limit(count: int, predictors: int) -> int:
    """The fewest correct predictions out of ``count`` that chance reaches with probability below
    ALPHA / predictors."""
    return int(binom.isf(ALPHA / predictors, count, 0.5)) + 1


def test_blinded_users_cannot_infer_the_allocation_from_what_they_see(api_as, stratified):
    scene = stratified
    participants = _enrol(scene, 64)
    for participant in participants:
        services.prepare_kit(
            participant=participant,
            session_number=1,
            vials=scene.vials_for(participant),
            by=scene.coordinator,
        )
    clinician = api_as(scene.clinician)
    seen = clinician.get(f"/studies/{scene.study.pk}/participants").json()
    kits = clinician.get(f"/studies/{scene.study.pk}/kits").json()
    assert {key for kit in kits for key in kit} <= {
        "code", "participant", "pseudonym", "session_number", "labels", "used", "discarded", "session"
    }, "no vials, lots or preparation times for a blinded clinician"  # fmt: skip
    truth = {
        slot.participant_id: slot.arm_left == "A"
        for slot in AllocationSlot.objects.filter(study=scene.study, participant__isnull=False)
    }
    kit_of = {kit["participant"]: kit for kit in kits}
    kit_number = {pid: int(kit["code"].removeprefix("K-")) for pid, kit in kit_of.items()}
    kit_position = {kit["participant"]: index for index, kit in enumerate(kits)}
    median_kit = sorted(kit_number.values())[len(kit_number) // 2]
    order = [row["id"] for row in seen]
    previous_kit = {pid: kit_number[order[i - 1]] if i else 0 for i, pid in enumerate(order)}
    enrolled_at = {row["id"]: row["enrolled_at"] for row in seen}
    predictors = {
        "participant id is even": lambda pid: pid % 2 == 0,
        "position in the participant list is even": lambda pid: order.index(pid) % 2 == 0,
        "enrolment time's last digit is even": lambda pid: (
            int("".join(c for c in enrolled_at[pid] if c.isdigit())[-1]) % 2 == 0
        ),
        "kit number is even": lambda pid: kit_number[pid] % 2 == 0,
        "kit number above the median": lambda pid: kit_number[pid] > median_kit,
        "position in the kit list is even": lambda pid: kit_position[pid] % 2 == 0,
        "kit number above the previous participant's": lambda pid: kit_number[pid] > previous_kit[pid],
        "pseudonym sorts in the first half": lambda pid: (
            kit_of[pid]["pseudonym"] < sorted(k["pseudonym"] for k in kits)[32]
        ),
    }
    count = len(truth)
    limit = _limit(count, len(predictors))
    for name, predict in predictors.items():
        correct = sum(predict(pid) == arm_a_left for pid, arm_a_left in truth.items())
        # A predictor may be anti-correlated as well: its negation is a predictor too.
        assert max(correct, count - correct) < limit, f"{name}: {correct} of {count} right (limit {limit})"

    # The bound has power: an ordering that did follow the arms would be caught at once.
    by_arm = sorted(truth, key=lambda pid: (truth[pid], pid))
    leaking = sum((by_arm.index(pid) >= count // 2) == arm_a_left for pid, arm_a_left in truth.items())
    assert leaking >= limit
