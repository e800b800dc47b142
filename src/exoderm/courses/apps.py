from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "exoderm.courses"
    label = "courses"
