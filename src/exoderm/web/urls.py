from django.contrib.auth import views as auth_views
from django.urls import path

from exoderm.courses.views import calendar_feed
from exoderm.web.views import account, courses, lots, patients, sessions, today

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", account.language, name="language"),
    path("", today.today, name="today"),
    path("patients/", patients.patient_list, name="patients"),
    path("patients/new/", patients.patient_new, name="patient-new"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient"),
    path("patients/<int:pk>/consents/", patients.consent_sign, name="consent-sign"),
    path(
        "patients/<int:pk>/consents/<int:consent_pk>/withdraw/",
        patients.consent_withdraw,
        name="consent-withdraw",
    ),
    path("patients/<int:pk>/enrol/", courses.enrol, name="course-enrol"),
    path("sessions/", sessions.session_list, name="sessions"),
    path("sessions/new/", sessions.session_new, name="session-new"),
    path("sessions/lot-status/", sessions.lot_status, name="lot-status"),
    path("sessions/window/", sessions.window, name="window-hint"),
    path("sessions/<int:pk>/", sessions.session_detail, name="session"),
    path("lots/", lots.lot_list, name="lots"),
    path("lots/receive/", lots.lot_receive, name="lot-receive"),
    path("lots/<int:pk>/", lots.lot_detail, name="lot"),
    path("lots/<int:pk>/release/", lots.lot_release, name="lot-release"),
    path("lots/<int:pk>/quarantine/", lots.lot_quarantine, name="lot-quarantine"),
    path("lots/<int:pk>/temperatures/", lots.lot_temperatures, name="lot-temperatures"),
    path("lots/<int:pk>/recall/", lots.lot_recall, name="lot-recall"),
    path("lots/<int:pk>/affected/", lots.lot_affected, name="lot-affected"),
    path("lots/<int:pk>/vials/<int:vial_pk>/<slug:action>/", lots.vial_action, name="vial-action"),
    path("products/", lots.product_list, name="products"),
    path("products/new/", lots.product_new, name="product-new"),
    path("courses/", courses.course_list, name="courses"),
    path("courses/templates/new/", courses.course_template_new, name="course-template-new"),
    path("courses/calendar/", courses.calendar, name="calendar"),
    path("visits/<int:pk>/<slug:action>/", courses.visit_change, name="visit-change"),
    path("courses/calendar/subscribe/", courses.calendar_subscribe, name="calendar-subscribe"),
    path("courses/calendar/mine.ics", courses.calendar_download, name="calendar-download"),
    path("calendar/<str:token>.ics", calendar_feed, name="calendar-feed"),
    path("manage/users/", account.user_list, name="users"),
    path("manage/users/new/", account.user_new, name="user-new"),
    path("manage/users/<int:pk>/", account.user_edit, name="user-edit"),
]
