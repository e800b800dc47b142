"""Writes and sign-ins, recorded through Django's signals.

Every model of an ``exoderm.*`` app (the auth user included: it is ``clinics.User``) except the
audit table itself is audited, so a model another app adds later is covered without a line here.
A create, update or delete writes its event in the transaction of the write (services run in
``transaction.atomic``; a write that rolls back takes its event with it). An update records the
fields that changed with old and new values, read from the row just before the save; secrets
(password hashes, token digests, keys) are recorded as changed, without values, and so are the
values an erasure request erases at once (:data:`ERASABLE`): an append-only trail could never give
them up.

Not seen by signals, hence not recorded: ``QuerySet.update()``, ``bulk_create()`` and
``bulk_update()``, and many-to-many changes (the auth user's groups and permissions, unused here).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import models
from django.db.models.signals import post_save, pre_delete, pre_save
from django.tasks.signals import task_finished, task_started

from exoderm.audit import chain, context
from exoderm.audit.models import AuditAction, AuditEvent

SECRET = re.compile(r"password|secret|digest|token|recovery|otp|(^|_)key($|_)")
#: Per model, the fields exoderm.patients.erasure erases at once on a patient's request (contact
#: details, and the old versions of corrections that hold them).
ERASABLE: dict[str, frozenset[str]] = {
    "patients.patientidentity": frozenset({"email", "phone", "phone_digits", "address"}),
    "records.revision": frozenset({"snapshot", "changes"}),
    # a message holds the patient's address and name: the trail records that it changed, not to what
    "messaging.outboxmessage": frozenset({"recipient", "subject", "body"}),
}
_BEFORE = "_audit_before"
# The context each running task set, by task id: the worker sends "finished" with another
# (frozen) result object of the same task, so the token cannot ride on the object itself.
_task_contexts: dict[str, Any] = {}


def enabled() -> bool:
    return bool(getattr(settings, "AUDIT_ENABLED", True))


@cache
def audited(model: type[models.Model]) -> bool:
    app = model._meta.app_config
    return bool(
        app is not None
        and app.name.startswith("exoderm.")
        # the processes' own state (worker heartbeats every 30 s): no person's data, no one's act
        and app.label != "ops"
        and model is not AuditEvent
        and not model._meta.auto_created
    )


def _path_value(instance: models.Model, path: str) -> Any:
    """Follow ``a__b__c`` from ``instance``; the last step reads the id column, not the row."""
    obj: Any = instance
    parts = path.split("__")
    for part in parts[:-1]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    field = obj._meta.get_field(parts[-1])
    return getattr(obj, field.attname)


@cache
def _clinic_path(model: type[models.Model]) -> str | None:
    from exoderm.clinics.models import Clinic

    if issubclass(model, Clinic):
        return "pk"
    path = getattr(model, "CLINIC_PATH", None)
    if path:
        return path
    names = {f.name for f in model._meta.get_fields()}
    if "clinic" in names:
        return "clinic"
    if "user" in names:
        return "user__clinic"
    return None


@cache
def _patient_path(model: type[models.Model]) -> str | None:
    from exoderm.patients.models import Patient

    if issubclass(model, Patient):
        return "pk"
    names = {f.name for f in model._meta.get_fields()}
    if "patient" in names:
        return "patient"
    clinic_path = getattr(model, "CLINIC_PATH", "")
    if "patient__" in clinic_path:
        return clinic_path.split("patient__")[0] + "patient"
    return _path_to(model, Patient, depth=3)


def _path_to(model: type[models.Model], target: type[models.Model], *, depth: int) -> str | None:
    """The shortest chain of forward foreign keys from ``model`` to ``target`` (an analysis hangs
    from its photo, which names the patient)."""
    frontier: list[tuple[type[models.Model], str]] = [(model, "")]
    for _step in range(depth):
        following = []
        for current, path in frontier:
            for field in current._meta.concrete_fields:
                related = field.related_model if field.many_to_one or field.one_to_one else None
                if not isinstance(related, type):
                    continue
                step = f"{path}__{field.name}" if path else field.name
                if issubclass(related, target):
                    return step
                following.append((related, step))
        frontier = following
    return None


def clinic_of(instance: models.Model) -> int | None:
    path = _clinic_path(type(instance))
    if path is None:
        return None
    return instance.pk if path == "pk" else _path_value(instance, path)


def patient_of(instance: models.Model) -> int | None:
    path = _patient_path(type(instance))
    if path is None:
        return None
    return instance.pk if path == "pk" else _path_value(instance, path)


def object_type(model: type[models.Model]) -> str:
    return model._meta.label_lower


def _values(instance: models.Model) -> dict[str, Any]:
    return {f.attname: f.value_from_object(instance) for f in instance._meta.concrete_fields}


def _hidden(model: type[models.Model], attname: str) -> bool:
    """Whether only the fact of a change of ``attname`` is recorded, not its values: secrets,
    erasable values, and what a model names in ``AUDIT_WITHOUT_VALUES`` (a study's concealed
    allocation, which blinded readers of the trail must not learn)."""
    return (
        bool(SECRET.search(attname))
        or attname in ERASABLE.get(object_type(model), frozenset())
        or attname in getattr(model, "AUDIT_WITHOUT_VALUES", frozenset())
    )


def _shown(name: str, value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"changed": True}
    if hasattr(value, "name") and isinstance(value, models.fields.files.FieldFile):
        return value.name
    return value


def _record(instance: models.Model, action: str, changes: dict[str, Any]) -> None:
    chain.append(
        action=action,
        object_type=object_type(type(instance)),
        object_id=instance.pk,
        clinic_id=clinic_of(instance),
        patient_id=patient_of(instance),
        changes=changes,
    )


def record_correction(*, obj: models.Model, changes: dict[str, Any], reason: str) -> None:
    """One "changed" event of the corrected record ``obj`` with the correction's ``reason`` and the
    fields it changed (name -> [old, new], as its revision keeps them), in the correction's
    transaction: a session's correction replaces its rows, so the row events alone tell of deleted
    and created procedures, not of the session changed. Values the trail never keeps (secrets,
    erasable contact details, also of the patient's identity) are recorded as changed only."""
    from exoderm.patients.models import Patient, PatientIdentity

    model = type(obj)

    def hidden(name: str) -> bool:
        return _hidden(model, name) or (issubclass(model, Patient) and _hidden(PatientIdentity, name))

    recorded: dict[str, Any] = {AuditEvent.CORRECTION_REASON: {"new": reason}}
    for name, (old, new) in changes.items():
        recorded[name] = {"changed": True} if hidden(name) else {"old": old, "new": new}
    _record(obj, AuditAction.UPDATE, recorded)


def before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    if raw or not enabled() or not audited(sender) or instance._state.adding or instance.pk is None:
        return
    names = [f.attname for f in sender._meta.concrete_fields]
    instance.__dict__[_BEFORE] = sender._base_manager.filter(pk=instance.pk).values(*names).first()


def after_save(
    sender: type[models.Model],
    instance: models.Model,
    created: bool,
    raw: bool = False,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    if raw or not enabled() or not audited(sender):
        return
    now = _values(instance)
    before = instance.__dict__.pop(_BEFORE, None)
    if created or before is None:
        changes = {
            name: {"changed": True} if _hidden(sender, name) else {"new": _shown(name, value)}
            for name, value in now.items()
        }
        _record(instance, AuditAction.CREATE, changes)
        return
    changes = {}
    for name, value in now.items():
        if (
            update_fields is not None
            and name not in update_fields
            and name.removesuffix("_id") not in update_fields
        ):
            continue
        old = before.get(name)
        if _shown(name, old) == _shown(name, value):
            continue
        changes[name] = (
            {"changed": True}
            if _hidden(sender, name)
            else {"old": _shown(name, old), "new": _shown(name, value)}
        )
    if changes:
        _record(instance, AuditAction.UPDATE, changes)


def before_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    # pre_delete: while the rows this one hangs from still exist (a cascade removes children first).
    if not enabled() or not audited(sender):
        return
    changes = {
        name: {"changed": True} if _hidden(sender, name) else {"old": _shown(name, value)}
        for name, value in _values(instance).items()
    }
    _record(instance, AuditAction.DELETE, changes)


def _account_event(action: str, user: Any) -> None:
    chain.append(
        action=action,
        object_type=user._meta.label_lower,
        object_id=user.pk,
        clinic_id=getattr(user, "clinic_id", None),
        who=context.current().who(user),
    )


def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if enabled():
        _account_event(AuditAction.LOGIN, user)


def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if enabled() and user is not None:
        _account_event(AuditAction.LOGOUT, user)


def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    """A failed sign-in goes to the chain of the clinic whose user the name belongs to, so that the
    clinic's admin sees attempts on their users; an unknown name goes to the global chain."""
    if not enabled():
        return
    from exoderm.clinics.models import User

    username = str(credentials.get("username", ""))[:150]
    known = User.objects.filter(username__iexact=username).values_list("pk", "clinic_id").first()
    user_id, clinic_id = known if known else (None, None)
    chain.append(
        action=AuditAction.LOGIN_FAILED,
        object_type=object_type(User),
        object_id=user_id or "",
        clinic_id=clinic_id,
        who=context.Who(None, username, "", None),
    )


def on_task_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
    """Background tasks (django.tasks' worker) write as channel "worker"."""
    _task_contexts[str(task_result.id)] = context.enter(
        context.Context(channel=context.Channel.WORKER, actor=f"task {task_result.task.name}"[:150])
    )


def on_task_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
    token = _task_contexts.pop(str(task_result.id), None)
    if token is not None:
        context.leave(token)


def connect() -> None:
    pre_save.connect(before_save, dispatch_uid="audit-before-save")
    post_save.connect(after_save, dispatch_uid="audit-after-save")
    pre_delete.connect(before_delete, dispatch_uid="audit-before-delete")
    user_logged_in.connect(on_login, dispatch_uid="audit-login")
    user_logged_out.connect(on_logout, dispatch_uid="audit-logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit-login-failed")
    task_started.connect(on_task_started, dispatch_uid="audit-task-started")
    task_finished.connect(on_task_finished, dispatch_uid="audit-task-finished")
