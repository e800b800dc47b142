"""Who may do what: one table of actions per role, checked by services and views alike."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from exoderm.clinics.models import Role

if TYPE_CHECKING:
    from exoderm.clinics.models import ClinicGroup, User


class Action(enum.StrEnum):
    VIEW_IDENTITY = "view_identity"  # names, birth dates, contact details
    VIEW_CLINICAL = "view_clinical"  # records, sessions, visits of named patients
    EDIT_PATIENT = "edit_patient"
    RECORD_CONSENT = "record_consent"
    CHART_SESSION = "chart_session"
    HANDLE_STOCK = "handle_stock"  # receive lots, thaw vials, log temperatures
    RELEASE_LOT = "release_lot"  # release from quarantine, recall
    MANAGE_CLINIC = "manage_clinic"  # products, templates, users, settings
    VIEW_STUDY_DATA = "view_study_data"  # pseudonymised outcome rows (exoderm.evidence, /api/v1/study)
    DELETE_PHOTO = "delete_photo"  # move to the trash, restore, erase for good
    EXPORT_PATIENT = "export_patient"  # the archive of everything held about a patient (GDPR Art. 15/20)
    ERASE_PATIENT = "erase_patient"  # record an erasure request; read a restricted record with a reason
    VIEW_AUDIT = "view_audit"  # the clinic's audit trail: who wrote and read what (exoderm.audit)
    RECORD_ADVERSE_EVENT = "record_adverse_event"  # exoderm.safety
    CORRECT_ADVERSE_EVENT = "correct_adverse_event"  # grade, relatedness, seriousness afterwards
    SET_UP_STUDY = "set_up_study"  # define a study (exoderm.studies); its roles decide the rest


_CLINICAL_STAFF: set[str] = {Role.CLINICIAN, Role.ASSISTANT, Role.CLINIC_ADMIN}

ALLOWED: dict[Action, set[str]] = {
    Action.VIEW_IDENTITY: _CLINICAL_STAFF,
    Action.VIEW_CLINICAL: _CLINICAL_STAFF,
    Action.EDIT_PATIENT: _CLINICAL_STAFF,
    Action.RECORD_CONSENT: _CLINICAL_STAFF,
    Action.CHART_SESSION: {Role.CLINICIAN},
    Action.HANDLE_STOCK: _CLINICAL_STAFF,
    Action.RELEASE_LOT: {Role.CLINICIAN, Role.CLINIC_ADMIN},
    Action.MANAGE_CLINIC: {Role.CLINIC_ADMIN},
    # Only a role that sees no identified record: staff who know patients by name and code must not
    # hold the pseudonymised rows too, or the pseudonyms would be linked back to them.
    Action.VIEW_STUDY_DATA: {Role.RESEARCHER},
    # Removing health data from the record is a clinical decision, like releasing a lot: assistants
    # take photos but do not remove them; researchers never see identified photos at all.
    Action.DELETE_PHOTO: {Role.CLINICIAN, Role.CLINIC_ADMIN},
    # The archive holds the whole record with every photo: handed out by those who answer for the
    # record, not by assistants.
    Action.EXPORT_PATIENT: {Role.CLINICIAN, Role.CLINIC_ADMIN},
    Action.ERASE_PATIENT: {Role.CLINIC_ADMIN},
    Action.VIEW_AUDIT: {Role.CLINIC_ADMIN},
    # Whoever hears of an adverse event writes it down; changing its assessment afterwards (grade,
    # relatedness, seriousness) is a clinical judgement, like releasing a lot.
    Action.RECORD_ADVERSE_EVENT: _CLINICAL_STAFF,
    Action.CORRECT_ADVERSE_EVENT: {Role.CLINICIAN, Role.CLINIC_ADMIN},
    # A study is defined by those who answer for treatments; who then does what in it is set by
    # the study roles (exoderm.studies.blinding), whatever the clinic role.
    Action.SET_UP_STUDY: {Role.CLINICIAN, Role.CLINIC_ADMIN},
}


def can(user: User, action: Action) -> bool:
    return bool(user.is_authenticated and user.clinic_id and user.role in ALLOWED[action])


def require(user: User, action: Action) -> None:
    if not can(user, action):
        raise PermissionDenied(_("Your role does not allow this."))


def require_group_admin(user: User) -> ClinicGroup:
    """The clinic group ``user`` administers (``User.administers_group``: a right beside the role,
    which gives no access to any clinic's records); ``PermissionDenied`` for everyone else."""
    group = user.administers_group if user.is_authenticated and user.is_active and user.clinic_id else None
    if group is None:
        raise PermissionDenied(_("Only an administrator of the clinic group may do this."))
    return group
