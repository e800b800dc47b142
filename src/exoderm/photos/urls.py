from django.urls import path

from exoderm.photos import pages, trash_pages, views

app_name = "photos"

urlpatterns = [
    path("<id:photo_id>/file", views.photo_file, name="file"),
    path("<id:photo_id>/overlay.png", views.photo_overlay, name="overlay"),
    path("<id:photo_id>/thumb.jpg", views.photo_thumbnail, name="thumb"),
    path("<id:photo_id>/status", pages.photo_status, name="status"),
    path("<id:photo_id>/delete", trash_pages.delete_photo, name="delete"),
    path("<id:photo_id>/restore", trash_pages.restore_photo, name="restore"),
    path("<id:photo_id>/erase", trash_pages.erase_photo, name="erase"),
    path("report/<id:patient_id>.pdf", views.patient_report, name="report"),
    path("patient/<id:patient_id>/", pages.patient_photos, name="patient"),
    path("patient/<id:patient_id>/check", pages.capture_check, name="check"),
    path("patient/<id:patient_id>/results", pages.course_results, name="results"),
    path("patient/<id:patient_id>/collage", pages.collage, name="collage"),
    path("compare/<id:before_id>/<id:after_id>", pages.compare, name="compare"),
]
