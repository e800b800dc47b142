"""The audit trail: every write of a domain record and every read of identifiable data, append-only
and tamper-evident (a SHA-256 hash chain per clinic), for clinic admins per patient and per user.

Why a model of our own and not django-auditlog: django-auditlog (3.4.1, December 2026) declares
Django up to 5.2, not 6.1; it records model changes through signals, but it has no hash chain, no
append-only table, no per-request reads of routes (its access log hooks admin and detail views one
by one), no channel, and its swappable LogEntry still writes through its own code paths, so each
of those would have been written on top of it. What is left for the library is the signal
receiver that diffs old and new values, about forty lines here (``recording.py``). A model of our
own is simpler and every byte of an event is under the hash.

Parts: ``context`` (who, how, from where: set by the middleware, the CLI and the task worker),
``chain`` (append and verify), ``recording`` (writes and sign-ins through Django's signals),
``reads`` (the route table and the middleware that records reads), ``selectors`` (the admin's view).
"""
