"""Messages to patients: an outbox sent by the task worker, by e-mail and SMS, in the patient's language.

See :mod:`exoderm.messaging.delivery` for the sending guarantee (never twice) and
:mod:`exoderm.messaging.producers` for what is sent when.
"""
