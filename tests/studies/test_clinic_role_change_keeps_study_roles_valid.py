"""A clinic role change keeps the study roles' rules: only a researcher is a statistician and a
researcher is nothing else of a study (``services.assign_role`` checks them when it gives a role).
A change that a user's live study roles do not allow is refused, naming each study and role, and
nothing is written; once the study's team has ended the role, the change goes through and the
trail records both, as any study role's end and any clinic role change."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from exoderm.audit.models import AuditEvent
from exoderm.clinics.models import Role
from exoderm.clinics.services import change_account
from exoderm.studies import services
from exoderm.studies.models import StudyRoleKind
from tests import factories
from tests.signin import login_with_mfa


@pytest.fixture
def scene(clinic):
    scene = factories.SplitFaceStudyScene(clinic, raters=1)
    scene.enrolled = scene.participant(first_session_at=timezone.now(), clinician=scene.clinician)
    scene.researcher = factories.UserFactory(
        clinic=clinic, role=Role.RESEARCHER, first_name="Sina", last_name="Vogt"
    )
    scene.statistician_role = services.assign_role(
        study=scene.study, user=scene.researcher, role=StudyRoleKind.STATISTICIAN, by=scene.pi
    )
    scene.admin = factories.UserFactory(clinic=clinic, role=Role.CLINIC_ADMIN)
    return scene


def _role_changes(user):
    return AuditEvent.objects.filter(
        object_type="clinics.user", object_id=str(user.pk), action="update", changes__has_key="role"
    )


def test_a_statistician_stays_a_researcher_until_the_study_team_ends_the_role(scene):
    with pytest.raises(ValidationError) as refused:
        change_account(account=scene.researcher, role=Role.CLINICIAN, is_active=True, by=scene.admin)
    [message] = refused.value.message_dict["role"]
    assert "Sina Vogt" in message
    assert f"{scene.study.title} (Statistician (results only))" in message
    scene.researcher.refresh_from_db()
    assert scene.researcher.role == Role.RESEARCHER
    assert not _role_changes(scene.researcher).exists()
    # locking the account or keeping the role is no change of the study roles' rules
    change_account(account=scene.researcher, role=Role.RESEARCHER, is_active=False, by=scene.admin)

    services.end_role(study_role=scene.statistician_role, by=scene.admin)
    change_account(account=scene.researcher, role=Role.CLINICIAN, is_active=True, by=scene.admin)
    assert AuditEvent.objects.filter(
        object_type="studies.studyrole", object_id=str(scene.statistician_role.pk), action="update"
    ).exists()
    [changed] = _role_changes(scene.researcher)
    assert changed.changes["role"] == {"old": "researcher", "new": "clinician"}


def test_a_researcher_holds_no_other_study_role_and_a_treating_clinician_stays_a_clinician(scene):
    for role in (Role.RESEARCHER, Role.ASSISTANT):
        with pytest.raises(ValidationError) as refused:
            change_account(account=scene.clinician, role=role, is_active=True, by=scene.admin)
        assert f"{scene.study.title} (Treating clinician)" in refused.value.message_dict["role"][0]
    with pytest.raises(ValidationError) as refused:
        change_account(account=scene.pi, role=Role.RESEARCHER, is_active=True, by=scene.admin)
    assert "(Principal investigator)" in refused.value.message_dict["role"][0]
    # what the study roles allow goes through: a principal investigator may be an assistant
    change_account(account=scene.pi, role=Role.ASSISTANT, is_active=True, by=scene.admin)


def test_the_user_page_says_which_studies_to_leave_first(client, scene):
    login_with_mfa(client, scene.admin)
    page = client.post(
        f"/manage/users/{scene.researcher.pk}/", {"role": Role.ASSISTANT, "is_active": "on"}, follow=True
    )
    body = page.content.decode()
    assert "End them on each study&#x27;s team first" in body
    assert scene.study.title in body
    scene.researcher.refresh_from_db()
    assert scene.researcher.role == Role.RESEARCHER
