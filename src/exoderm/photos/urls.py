from django.urls import path

from exoderm.photos import pages, trash_pages, views

app_name = "photos"

urlpatterns = [
    path("<int:photo_id>/file", views.photo_file, name="file"),
    path("<int:photo_id>/overlay.png", views.photo_overlay, name="overlay"),
    path("<int:photo_id>/status", pages.photo_status, name="status"),
    path("<int:photo_id>/delete", trash_pages.delete_photo, name="delete"),
    path("<int:photo_id>/restore", trash_pages.restore_photo, name="restore"),
    path("<int:photo_id>/erase", trash_pages.erase_photo, name="erase"),
    path("report/<int:patient_id>.pdf", views.patient_report, name="report"),
    path("patient/<int:patient_id>/", pages.patient_photos, name="patient"),
    path("patient/<int:patient_id>/check", pages.capture_check, name="check"),
    path("patient/<int:patient_id>/results", pages.course_results, name="results"),
    path("compare/<int:before_id>/<int:after_id>", pages.compare, name="compare"),
]
