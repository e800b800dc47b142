from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "exoderm.studies"
    label = "studies"

    def ready(self) -> None:
        # a clinic role change must not leave study roles behind that the new role would not get
        from exoderm.clinics.services import refuse_role_change_when
        from exoderm.studies.selectors import study_roles_in_the_way

        refuse_role_change_when(study_roles_in_the_way)
