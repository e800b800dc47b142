"""One table of audit events, append-only: a row once written is never changed or removed."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    DELETE = "delete", _("deleted")
    READ = "read", _("read")
    EXPORT = "export", _("exported")
    LOGIN = "login", _("signed in")
    LOGIN_FAILED = "login_failed", _("failed sign-in")
    LOGOUT = "logout", _("signed out")


class AppendOnly(Exception):
    """An attempt to change or remove an audit event."""


class AuditEvent(models.Model):
    """One thing that happened. ``hash`` covers every other column and the previous event's hash
    in the same chain (``chain``: the clinic's id, 0 for events of no clinic such as a failed
    sign-in with an unknown name), see :mod:`exoderm.audit.chain`.

    Users and patients are plain numbers, not foreign keys: the trail outlives what it
    tells about, and a foreign key would make a deletion change or block audit rows.
    """

    CLINIC_PATH = "clinic"
    #: The key of a correction's event (:func:`exoderm.audit.recording.record_correction`) that
    #: keeps its reason, beside the fields it changed.
    CORRECTION_REASON = "correction_reason"

    chain = models.BigIntegerField()
    seq = models.BigIntegerField()
    at = models.DateTimeField(_("when"))
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    channel = models.CharField(_("channel"), max_length=8)
    user_id = models.BigIntegerField(_("user id"), null=True)
    username = models.CharField(_("user"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=20, blank=True)
    # A reference without a database constraint and without cascade (see above); it only lets
    # exoderm.core.access.in_clinic keep each clinic to its own events.
    clinic = models.ForeignKey(
        "clinics.Clinic", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    object_type = models.CharField(_("object"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    patient_id = models.BigIntegerField(_("patient id"), null=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    route = models.CharField(_("route"), max_length=200, blank=True)
    query = models.JSONField(_("query"), default=dict, blank=True)
    ip = models.CharField(_("address"), max_length=45, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_one_event_per_link")]
        indexes = [
            models.Index(fields=["clinic", "patient_id", "-at"], name="audit_patient_at"),
            models.Index(fields=["clinic", "user_id", "-at"], name="audit_user_at"),
            models.Index(fields=["clinic", "-at"], name="audit_clinic_at"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or not self._state.adding:
            raise AppendOnly("audit events are never changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnly("audit events are never deleted")

    @property
    def is_correction(self) -> bool:
        """Whether this is the event of a correction (with its reason), not of a row written."""
        return isinstance(self.changes, dict) and self.CORRECTION_REASON in self.changes
