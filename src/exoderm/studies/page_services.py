"""Writes the study pages compose from the domain's services, each in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction

from exoderm.courses import services as course_services
from exoderm.studies import services
from exoderm.studies.models import Study

if TYPE_CHECKING:
    from exoderm.clinics.models import User
    from exoderm.courses.models import CourseTemplate


@transaction.atomic
def set_up_study(
    *,
    by: User,
    course_template: CourseTemplate | None,
    new_course: dict[str, object] | None,
    arms: Sequence[services.ArmInput],
    endpoints: Sequence[services.EndpointInput],
    criteria: Sequence[services.CriterionInput],
    **definition: object,
) -> Study:
    """Define a study as the new-study page does: on an existing course template or a new one
    (``new_course``: the fields of ``courses.services.create_course_template``); the one who
    defines it becomes its principal investigator (``create_study``).

    All or nothing: a refused definition leaves no new course template behind.
    """
    assert by.clinic is not None
    if course_template is None:
        assert new_course is not None
        course_template = course_services.create_course_template(clinic=by.clinic, by=by, **new_course)  # type: ignore[arg-type]
    return services.create_study(
        by=by,
        course_template=course_template.pk,
        arms=arms,
        endpoints=endpoints,
        criteria=criteria,
        **definition,  # type: ignore[arg-type]
    )
