"""Clinical studies run on exoderm: definition, roles, participants, concealed allocation, coded
kits, blinded ratings, satisfaction, deviations and amendments.

Blinding is kept by the data itself as far as it can be: the allocation lives only in
:class:`AllocationSlot` (its arm fields are recorded in the audit trail as changed, without values,
see ``AUDIT_WITHOUT_VALUES``), kit codes are drawn at random (they encode nothing), and the list of
slots is written in one go before the first participant, so that ids and timestamps of slots
follow the random list rather than the arms. What a blinded role may see is decided in
:mod:`exoderm.studies.blinding`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from exoderm.core.contraindications import ScreeningItem


class Design(models.TextChoices):
    SPLIT_FACE = "split_face", _("Split-face (within person)")
    PARALLEL = "parallel", _("Parallel groups")
    SINGLE_ARM = "single_arm", _("Single arm")


class Blinding(models.TextChoices):
    OPEN = "open", _("Open (nobody blinded)")
    RATER = "rater_blind", _("Rater-blinded")
    DOUBLE = "double_blind", _("Double-blind (treating clinician and raters blinded)")


class Stratification(models.TextChoices):
    NONE = "none", _("None")
    FITZPATRICK_GROUP = "fitzpatrick_group", _("Fitzpatrick group (I–III, IV–VI)")


class Study(models.Model):
    CLINIC_PATH = "clinic"
    # The seed reproduces the whole allocation list: only the unblinded coordinator may learn it.
    AUDIT_WITHOUT_VALUES = frozenset({"randomization_seed"})

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="studies")
    title = models.CharField(_("title"), max_length=300)
    registry_id = models.CharField(_("registry id"), max_length=64, blank=True)
    design = models.CharField(_("design"), max_length=16, choices=Design.choices)
    blinding = models.CharField(
        _("blinding"), max_length=16, choices=Blinding.choices, default=Blinding.DOUBLE
    )
    course_template = models.ForeignKey(
        "courses.CourseTemplate", on_delete=models.PROTECT, related_name="studies", verbose_name=_("course")
    )
    block_size = models.PositiveSmallIntegerField(
        _("randomization block size"), default=4, validators=[MinValueValidator(2), MaxValueValidator(24)]
    )
    stratification = models.CharField(
        _("stratification"), max_length=24, choices=Stratification.choices, default=Stratification.NONE
    )
    slots_per_stratum = models.PositiveSmallIntegerField(
        _("allocation list length per stratum"),
        default=40,
        validators=[MinValueValidator(2), MaxValueValidator(2000)],
    )
    randomization_seed = models.CharField(max_length=64, blank=True, editable=False)
    list_generated_at = models.DateTimeField(_("allocation list generated at"), null=True, blank=True)
    locked_at = models.DateTimeField(_("definition locked at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Arm(models.Model):
    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    code = models.CharField(_("code"), max_length=4)
    name = models.CharField(_("name"), max_length=120)
    product = models.ForeignKey(
        "products.Product", on_delete=models.PROTECT, related_name="study_arms", verbose_name=_("product")
    )
    description = models.CharField(_("description"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("arm")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="arm_code_unique_per_study")]

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"


class CriterionKind(models.TextChoices):
    INCLUSION = "inclusion", _("Inclusion")
    EXCLUSION = "exclusion", _("Exclusion")


class CriterionSubject(models.TextChoices):
    AGE = "age", _("Age (years)")
    FITZPATRICK = "fitzpatrick", _("Fitzpatrick skin type")
    SCREENING = "screening", _("Screening answer")


class EligibilityCriterion(models.Model):
    """One inclusion or exclusion criterion.

    Age and Fitzpatrick type name a range (``min_value`` to ``max_value``, either end open): an
    inclusion criterion requires the value in it, an exclusion criterion excludes it. A screening
    criterion names an item: inclusion requires it answered present, exclusion excludes a present one.
    """

    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="criteria")
    kind = models.CharField(_("kind"), max_length=16, choices=CriterionKind.choices)
    subject = models.CharField(_("subject"), max_length=16, choices=CriterionSubject.choices)
    min_value = models.PositiveSmallIntegerField(_("from"), null=True, blank=True)
    max_value = models.PositiveSmallIntegerField(_("to"), null=True, blank=True)
    screening_item = models.CharField(
        _("screening item"), max_length=32, choices=ScreeningItem.choices, blank=True
    )
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("eligibility criterion")
        verbose_name_plural = _("eligibility criteria")
        ordering = ["kind", "id"]


class EndpointKind(models.TextChoices):
    GAIS = "gais", _("GAIS rating by blinded raters")
    METRIC = "metric", _("Skin metric measured on photos")
    SATISFACTION = "satisfaction", _("Patient-reported satisfaction")


class Endpoint(models.Model):
    """A pre-registered endpoint: what is measured, where, at which visit (session number and
    weeks after it, as the course template plans its follow-ups)."""

    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="endpoints")
    primary = models.BooleanField(_("primary"), default=False)
    kind = models.CharField(_("kind"), max_length=16, choices=EndpointKind.choices)
    metric = models.CharField(_("metric"), max_length=64, blank=True)
    region = models.CharField(_("region"), max_length=32, blank=True)
    session_number = models.PositiveSmallIntegerField(_("after session"), validators=[MinValueValidator(1)])
    weeks_after_session = models.PositiveSmallIntegerField(
        _("weeks after that session"), validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = _("endpoint")
        ordering = ["-primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study"], condition=models.Q(primary=True), name="one_primary_endpoint_per_study"
            )
        ]


class StudyRoleKind(models.TextChoices):
    PRINCIPAL_INVESTIGATOR = "principal_investigator", _("Principal investigator")
    UNBLINDED_COORDINATOR = "unblinded_coordinator", _("Unblinded coordinator")
    TREATING_CLINICIAN = "treating_clinician", _("Treating clinician")
    RATER = "rater", _("Rater")
    # a researcher (the clinic role that sees no identified record) who analyses the data: the
    # study's results, report and exports only, never its participants, kits or pages
    STATISTICIAN = "statistician", _("Statistician (results only)")


class StudyRole(models.Model):
    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="study_roles")
    role = models.CharField(_("study role"), max_length=32, choices=StudyRoleKind.choices)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField()
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("study role")
        ordering = ["role", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "user", "role"],
                condition=models.Q(ended_at__isnull=True),
                name="one_active_study_role_per_user_and_kind",
            )
        ]


class ParticipantStatus(models.TextChoices):
    ENROLLED = "enrolled", _("Enrolled")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    COMPLETED = "completed", _("Completed")


class Participant(models.Model):
    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="study_participations"
    )
    pseudonym = models.CharField(_("study pseudonym"), max_length=24)
    stratum = models.CharField(_("stratum"), max_length=32, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ParticipantStatus.choices, default=ParticipantStatus.ENROLLED
    )
    course = models.OneToOneField(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="study_participant"
    )
    enrolled_at = models.DateTimeField(_("enrolled at"))
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawal_reason = models.CharField(_("reason for withdrawal"), max_length=500, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("participant")
        ordering = ["enrolled_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "patient"], name="participant_once_per_study"),
            models.UniqueConstraint(fields=["study", "pseudonym"], name="participant_pseudonym_unique"),
        ]

    def __str__(self) -> str:
        return self.pseudonym


class ScreenFailure(models.Model):
    """A patient screened for the study and not enrolled: a refused enrolment names the rule and
    the criterion, a patient who declined or was not enrolled for another reason names that."""

    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="screen_failures")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(_("rule"), max_length=40)
    criterion = models.CharField(_("criterion"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=500)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("screen failure")
        ordering = ["recorded_at", "id"]


class AllocationSlot(models.Model):
    """One place of the allocation list, generated before the first participant.

    Split-face slots hold the arm of each half (``arm_left``, ``arm_right``), parallel and single-arm
    slots the ``arm``. A slot is revealed when a participant of its stratum takes it, in list order.
    """

    CLINIC_PATH = "study__clinic"
    AUDIT_WITHOUT_VALUES = frozenset({"arm", "arm_left", "arm_right"})

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="slots")
    stratum = models.CharField(max_length=32, blank=True)
    sequence = models.PositiveIntegerField()
    block = models.PositiveIntegerField()
    arm = models.CharField(max_length=4, blank=True)
    arm_left = models.CharField(max_length=4, blank=True)
    arm_right = models.CharField(max_length=4, blank=True)
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="slot"
    )
    allocated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stratum", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["study", "stratum", "sequence"], name="slot_sequence_unique"),
        ]


class Unblinding(models.Model):
    """An emergency unblinding of one participant: who learned the allocation, when and why."""

    CLINIC_PATH = "participant__study__clinic"

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="unblindings")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=1000)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("unblinding")
        ordering = ["at", "id"]


class KitVialLabel(models.TextChoices):
    LEFT = "left", _("left")
    RIGHT = "right", _("right")
    SINGLE = "single", _("single vial")


class Kit(models.Model):
    """A coded kit for one participant's session: its code (random, so it encodes nothing) is all a
    blinded clinician learns of it; the vials inside are labelled only by side."""

    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="kits")
    code = models.CharField(_("kit code"), max_length=12)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="kits")
    session_number = models.PositiveSmallIntegerField(_("for session"), validators=[MinValueValidator(1)])
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    session = models.OneToOneField(
        "treatments.TreatmentSession", on_delete=models.PROTECT, null=True, blank=True, related_name="kit"
    )
    # A kit that cannot be used (its lot quarantined, a vial past its use-by time) is discarded with
    # the reason, and the coordinator prepares another for the same session.
    discarded_at = models.DateTimeField(_("discarded at"), null=True, blank=True)
    discard_reason = models.CharField(_("reason for discarding"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("kit")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="kit_code_unique_per_study"),
            models.UniqueConstraint(
                fields=["participant", "session_number"],
                condition=models.Q(discarded_at__isnull=True),
                name="one_kit_in_use_per_participant_session",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class KitVial(models.Model):
    CLINIC_PATH = "kit__study__clinic"
    # Which real vial (hence lot and product) hides behind a label is the allocation itself.
    AUDIT_WITHOUT_VALUES = frozenset({"vial_id"})

    kit = models.ForeignKey(Kit, on_delete=models.CASCADE, related_name="vials")
    label = models.CharField(_("label"), max_length=8, choices=KitVialLabel.choices)
    vial = models.OneToOneField("products.Vial", on_delete=models.PROTECT, related_name="kit_vial")

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["kit", "label"], name="kit_vial_label_unique")]


class Gais(models.TextChoices):
    VERY_MUCH_IMPROVED = "very_much_improved", _("Very much improved")
    MUCH_IMPROVED = "much_improved", _("Much improved")
    IMPROVED = "improved", _("Improved")
    NO_CHANGE = "no_change", _("No change")
    WORSE = "worse", _("Worse")


class Side(models.TextChoices):
    LEFT = "face_left", _("Left half of the face")
    RIGHT = "face_right", _("Right half of the face")
    WHOLE = "whole", _("Whole treated area")


class RatingTask(models.Model):
    """What raters judge for one participant at one follow-up visit: baseline and follow-up photos
    of each side. ``order_key`` is random: the queue is sorted by it, not by participant or arm."""

    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rating_tasks")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="rating_tasks")
    visit = models.ForeignKey("courses.Visit", on_delete=models.PROTECT, related_name="rating_tasks")
    order_key = models.CharField(max_length=32)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rating task")
        ordering = ["order_key"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "visit"], name="one_rating_task_per_visit")
        ]


class RatingImageTimepoint(models.TextChoices):
    BASELINE = "baseline", _("Baseline")
    FOLLOW_UP = "follow_up", _("Follow-up")


class RatingImage(models.Model):
    """One photo of a rating task, served to raters by its random ``token`` only (no photo id,
    file name or date), decrypted and re-encoded without metadata.

    ``photo`` is None once the photo was erased (the patient's erasure request, GDPR Art. 17, or
    the end of the record's retention): the pixels go, this row stays as the trace that the task
    showed an image of this side and time point, so that ratings already given keep their
    context for the study's integrity and audit. Nothing in it identifies the patient (the
    token is random, side and time point are the study's design)."""

    CLINIC_PATH = "task__study__clinic"

    task = models.ForeignKey(RatingTask, on_delete=models.CASCADE, related_name="images")
    side = models.CharField(max_length=16, choices=Side.choices)
    timepoint = models.CharField(max_length=16, choices=RatingImageTimepoint.choices)
    photo = models.ForeignKey("photos.Photo", on_delete=models.SET_NULL, null=True, related_name="+")
    token = models.CharField(max_length=32, unique=True)

    class Meta:
        ordering = ["task", "side", "timepoint"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "side", "timepoint"], name="one_image_per_side_and_timepoint"
            )
        ]


class BetterSide(models.TextChoices):
    LEFT = "face_left", _("Left half improved more")
    RIGHT = "face_right", _("Right half improved more")
    EQUAL = "equal", _("No difference")


class Rating(models.Model):
    """One rater's independent judgement of one task (never shown to another rater)."""

    CLINIC_PATH = "task__study__clinic"

    task = models.ForeignKey(RatingTask, on_delete=models.PROTECT, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    better_side = models.CharField(
        _("which side improved more"), max_length=16, choices=BetterSide.choices, blank=True
    )
    rated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rating")
        ordering = ["rated_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "rater"], name="one_rating_per_rater_and_task")
        ]


class RatingScore(models.Model):
    CLINIC_PATH = "rating__task__study__clinic"

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="scores")
    side = models.CharField(max_length=16, choices=Side.choices)
    gais = models.CharField(_("GAIS"), max_length=24, choices=Gais.choices)

    class Meta:
        ordering = ["side"]
        constraints = [models.UniqueConstraint(fields=["rating", "side"], name="one_score_per_side")]


class Satisfaction(models.Model):
    """Patient-reported satisfaction with one side at a follow-up visit (1 very dissatisfied to 5
    very satisfied)."""

    CLINIC_PATH = "participant__study__clinic"

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="satisfaction")
    visit = models.ForeignKey("courses.Visit", on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=16, choices=Side.choices)
    score = models.PositiveSmallIntegerField(
        _("satisfaction (1–5)"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("satisfaction score")
        ordering = ["visit", "side"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "visit", "side"], name="one_satisfaction_per_side")
        ]


class DeviationKind(models.TextChoices):
    VISIT_OUT_OF_WINDOW = "visit_out_of_window", _("Visit outside its window")
    MISSED_SESSION = "missed_session", _("Missed session")
    MISSED_VISIT = "missed_visit", _("Missed follow-up visit")
    WRONG_KIT = "wrong_kit", _("Wrong kit")
    WRONG_SIDE = "wrong_side", _("Wrong side")
    UNBLINDING = "unblinding", _("Unblinding")
    OTHER = "other", _("Other")


class Deviation(models.Model):
    CLINIC_PATH = "participant__study__clinic"

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="deviations")
    kind = models.CharField(_("kind"), max_length=24, choices=DeviationKind.choices)
    description = models.CharField(_("description"), max_length=1000)
    occurred_on = models.DateField(_("occurred on"))
    visit = models.ForeignKey(
        "courses.Visit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("protocol deviation")
        ordering = ["occurred_on", "id"]
        constraints = [
            # One automatic deviation per visit and kind, however often the check runs.
            models.UniqueConstraint(
                fields=["participant", "visit", "kind"],
                condition=models.Q(visit__isnull=False),
                name="one_deviation_per_visit_and_kind",
            )
        ]


class Amendment(models.Model):
    """A change of the locked definition: what changed (before and after) and why."""

    CLINIC_PATH = "study__clinic"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="amendments")
    number = models.PositiveSmallIntegerField()
    reason = models.CharField(_("reason"), max_length=1000)
    changes = models.JSONField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("amendment")
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="amendment_number_unique")]
