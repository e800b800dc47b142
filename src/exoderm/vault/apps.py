from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "exoderm.vault"
    label = "vault"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from exoderm.vault.files import restrict_sqlite_file

        connection_created.connect(restrict_sqlite_file, dispatch_uid="vault-restrict-sqlite-file")
