"""`exoderm manage verify_audit`: check every chain of the audit trail from its first event."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from exoderm.audit.chain import verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains; exit status 1 and the first broken link if one is broken."

    def handle(self, *args: Any, **options: Any) -> None:
        verdict = verify()
        broken = verdict.first_break
        if broken is not None:
            chain = f"clinic {broken.chain}" if broken.chain else "the global chain"
            raise CommandError(
                f"audit trail broken at event {broken.event_id} (link {broken.seq} of {chain}): "
                f"{broken.problem}",
                returncode=1,
            )
        self.stdout.write(f"{verdict.events} events, chain intact")
