from django.urls import path

from exoderm.photos import views

app_name = "photos"

urlpatterns = [
    path("<int:photo_id>/file", views.photo_file, name="file"),
    path("report/<int:patient_id>.pdf", views.patient_report, name="report"),
]
