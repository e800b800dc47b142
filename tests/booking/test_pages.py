"""The appointment book's pages: the day and week grids render per clinician and per room with a
bounded number of queries, the move endpoint (the grid's keyboard and drag) moves or says why not,
booking by form; and in Chromium at tablet width: nothing cut off, a keyboard move saved."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from exoderm.booking import services
from exoderm.booking.models import Appointment
from tests import factories
from tests._browser import shot
from tests.booking.conftest import NEXT_YEAR, berlin, weekday_of
from tests.signin import login_in_browser

TUESDAY = weekday_of(NEXT_YEAR, 3, 1)
MAX_QUERIES = 16


def a_day_of_appointments(scene, count: int = 3) -> list[Appointment]:
    booked = []
    for n in range(count):
        patient = factories.ConsentedPatientFactory(clinic=scene.clinic)
        booked.append(
            services.book_appointment(
                patient=patient,
                kind=["consultation", "treatment", "follow_up"][n % 3],
                starts_at=berlin(TUESDAY, f"{9 + n}:00"),
                clinician=[scene.clinician, scene.colleague][n % 2],
                room=[scene.room, scene.other_room][n % 2],
                device=scene.laser if n % 2 else None,
                by=scene.assistant,
            )
        )
    return booked


def grid_urls(scene) -> list[str]:
    day, week = reverse("booking-day"), reverse("booking-week")
    date = TUESDAY.isoformat()
    return [
        f"{day}?date={date}",
        f"{day}?date={date}&by=room",
        f"{day}?date={date}&clinician={scene.clinician.pk}",
        f"{day}?date={date}&room={scene.room.pk}",
        f"{week}?date={date}",
        f"{week}?date={date}&clinician={scene.colleague.pk}",
        f"{week}?date={date}&room={scene.other_room.pk}",
    ]


@pytest.mark.django_db
def test_day_and_week_views_render_with_bounded_queries(client, scene, django_assert_max_num_queries):
    booked = a_day_of_appointments(scene, 3)
    client.force_login(scene.assistant)
    for url in grid_urls(scene):
        with django_assert_max_num_queries(MAX_QUERIES):
            response = client.get(url)
        assert response.status_code == 200, url
    day = client.get(grid_urls(scene)[0]).content.decode()
    for appointment in booked:
        assert f'id="appointment-{appointment.pk}"' in day
        assert appointment.patient.identity.family_name in day
    assert "Dana Adler" in day and "Jo Berg" in day
    by_room = client.get(grid_urls(scene)[1]).content.decode()
    assert "Room 1" in by_room and "Room 2" in by_room
    week = client.get(grid_urls(scene)[4]).content.decode()
    # the assistant's week shows the first clinician: her appointment at 09:00 and 11:00
    assert f'id="appointment-{booked[0].pk}"' in week and f'id="appointment-{booked[1].pk}"' not in week


@pytest.mark.django_db
def test_query_count_does_not_grow_with_appointments(client, scene, django_assert_max_num_queries):
    a_day_of_appointments(scene, 12)
    client.force_login(scene.assistant)
    for url in grid_urls(scene):
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_a_closed_day_says_why(client, scene):
    client.force_login(scene.assistant)
    html = client.get(reverse("booking-day") + f"?date={NEXT_YEAR}-05-01").content.decode()
    assert "public holiday (Labor Day)" in html


@pytest.mark.django_db
def test_the_move_endpoint_moves_or_says_why_not(client, scene):
    first, second, _third = a_day_of_appointments(scene, 3)
    client.force_login(scene.assistant)
    url = reverse("booking-move", args=[first.pk])
    grid = {"HTTP_X_BOOKING_GRID": "1"}
    context = {"view": "day", "by": "clinician", "date": TUESDAY.isoformat()}
    # to 13:15 with the colleague (the next column)
    html = client.post(url, context | {"starts_at": f"{TUESDAY}T13:15", "column": scene.colleague.pk}, **grid)
    assert html.status_code == 200
    assert "Moved to" in html.content.decode() and 'class="bk-wrap"' in html.content.decode()
    first.refresh_from_db()
    assert (first.starts_at, first.clinician) == (berlin(TUESDAY, "13:15"), scene.colleague)
    # onto the colleague's own 10:00 appointment: refused, nothing changes
    html = client.post(url, context | {"starts_at": f"{TUESDAY}T10:00", "column": scene.colleague.pk}, **grid)
    assert "Jo Berg is booked from" in html.content.decode() and 'role="alert"' in html.content.decode()
    first.refresh_from_db()
    assert first.starts_at == berlin(TUESDAY, "13:15")
    # by room, without script: a redirect back to the grid
    room_move = client.post(
        reverse("booking-move", args=[second.pk]),
        {
            "view": "day",
            "by": "room",
            "date": TUESDAY.isoformat(),
            "starts_at": f"{TUESDAY}T15:00",
            "column": scene.room.pk,
        },
    )
    assert room_move.status_code == 302 and "by=room" in room_move["Location"]
    second.refresh_from_db()
    assert (second.room, second.starts_at) == (scene.room, berlin(TUESDAY, "15:00"))
    # a week move changes the day
    client.post(
        url,
        {
            "view": "week",
            "clinician": scene.colleague.pk,
            "date": TUESDAY.isoformat(),
            "starts_at": f"{TUESDAY + dt.timedelta(days=1)}T08:00",
        },
        **grid,
    )
    first.refresh_from_db()
    assert first.starts_at == berlin(TUESDAY + dt.timedelta(days=1), "08:00")


@pytest.mark.django_db
def test_book_by_form_and_change_on_the_appointment_page(client, scene, researcher):
    client.force_login(scene.assistant)
    form = client.get(reverse("booking-new") + f"?clinician={scene.clinician.pk}")
    assert form.status_code == 200 and "data-filter" in form.content.decode()
    data = {
        "patient": scene.patient.pk,
        "kind": "consultation",
        "starts_at": f"{TUESDAY}T10:00",
        "minutes": "",
        "clinician": scene.clinician.pk,
        "room": scene.room.pk,
        "device": "",
    }
    response = client.post(reverse("booking-new"), data)
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.ends_at - appointment.starts_at == dt.timedelta(minutes=30)
    clash = client.post(
        reverse("booking-new"), data | {"patient": scene.other_patient.pk, "clinician": scene.colleague.pk}
    )
    assert "Room Room 1 is booked from" in clash.content.decode()
    page = client.get(reverse("booking-appointment", args=[appointment.pk])).content.decode()
    assert scene.patient.identity.family_name in page and "Room 1" in page
    # next year's appointment cannot have been missed yet: no button that could only be refused
    assert reverse("booking-change", args=[appointment.pk, "no-show"]) not in page
    assert reverse("booking-change", args=[appointment.pk, "cancel"]) in page
    moved = client.post(
        reverse("booking-appointment", args=[appointment.pk]),
        {
            "starts_at": f"{TUESDAY}T11:00",
            "minutes": "45",
            "clinician": scene.clinician.pk,
            "room": "",
            "device": "",
        },
    )
    assert moved.status_code == 302
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.ends_at, appointment.room) == (
        berlin(TUESDAY, "11:00"),
        berlin(TUESDAY, "11:45"),
        None,
    )
    # once it has begun, it can be marked a no-show
    now = timezone.now()
    Appointment.objects.filter(pk=appointment.pk).update(
        starts_at=now - dt.timedelta(minutes=40), ends_at=now - dt.timedelta(minutes=10)
    )
    page = client.get(reverse("booking-appointment", args=[appointment.pk])).content.decode()
    assert reverse("booking-change", args=[appointment.pk, "no-show"]) in page
    assert client.post(reverse("booking-change", args=[appointment.pk, "cancel"])).status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    client.force_login(researcher)
    assert client.get(reverse("booking-day")).status_code == 403


@pytest.mark.django_db
def test_a_booking_on_a_day_gone_by_is_asked_about_first(client, scene):
    """A mistyped date (last week instead of next) is not booked silently; an appointment that took
    place is recorded once the user ticks that it did."""
    client.force_login(scene.assistant)
    last_week = timezone.localdate() - dt.timedelta(days=6)
    data = {
        "patient": scene.patient.pk,
        "kind": "consultation",
        "starts_at": f"{last_week}T10:00",
        "minutes": "",
        "clinician": scene.clinician.pk,
        "room": "",
        "device": "",
    }
    asked = client.post(reverse("booking-new"), data)
    assert asked.status_code == 200 and not Appointment.objects.exists()
    assert "This day has passed." in asked.content.decode()
    assert f'value="{last_week}T10:00"' in asked.content.decode()  # the typed time is kept
    recorded = client.post(reverse("booking-new"), data | {"took_place": "on"})
    assert recorded.status_code == 302
    assert timezone.localtime(Appointment.objects.get().starts_at).date() == last_week
    ahead = client.post(reverse("booking-new"), data | {"starts_at": f"{TUESDAY}T10:00", "took_place": "on"})
    assert "The appointment is not on a day before today." in ahead.content.decode()
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
def test_another_clinics_appointment_is_a_404(client, scene, other_clinic):
    theirs = factories.UserFactory(clinic=other_clinic, role="clinician")
    appointment = services.book_appointment(
        patient=factories.ConsentedPatientFactory(clinic=other_clinic),
        kind="consultation",
        starts_at=berlin(TUESDAY, "10:00"),
        clinician=theirs,
        by=theirs,
    )
    client.force_login(scene.assistant)
    assert client.get(reverse("booking-appointment", args=[appointment.pk])).status_code == 404
    assert (
        client.post(
            reverse("booking-move", args=[appointment.pk]), {"starts_at": f"{TUESDAY}T12:00"}
        ).status_code
        == 404
    )
    assert client.get(reverse("booking-day") + f"?clinician={theirs.pk}").status_code == 404


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "de"])
def test_day_view_on_a_tablet_moves_by_keyboard(browser_page, live_server, scene, language):
    page = browser_page
    booked = a_day_of_appointments(scene, 3)
    for n in range(3):  # a fuller day: more clinicians than fit side by side
        factories.UserFactory(clinic=scene.clinic, role="clinician", first_name="Kim", last_name=f"Extra{n}")
    scene.assistant.language = language
    scene.assistant.save()
    page.set_viewport_size({"width": 820, "height": 1180})
    login_in_browser(page, live_server.url, scene.assistant)
    page.goto(f"{live_server.url}{reverse('booking-day')}?date={TUESDAY}")
    # nothing cut off: the page does not scroll sideways; the grid scrolls inside its box
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    for selector in (".pagehead", ".bk-toolbar", ".pager"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 820, selector
    shot(page, f"booking-day-tablet-{language}")
    first = page.locator(f"#appointment-{booked[0].pk}")
    first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")  # to the next clinician's column
    page.keyboard.press("Enter")
    page.wait_for_selector(".bk-wrap .notice")
    assert page.evaluate("document.activeElement.id") == f"appointment-{booked[0].pk}"
    moved = Appointment.objects.get(pk=booked[0].pk)
    assert moved.starts_at == berlin(TUESDAY, "09:30")
    assert moved.clinician == scene.colleague
    # Escape leaves an appointment where it was
    second = page.locator(f"#appointment-{booked[1].pk}")
    second.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Escape")
    assert Appointment.objects.get(pk=booked[1].pk).starts_at == booked[1].starts_at
    page.goto(f"{live_server.url}{reverse('booking-week')}?date={TUESDAY}&clinician={scene.colleague.pk}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    # the seven days fit without scrolling the grid sideways either
    assert page.evaluate(
        "document.querySelector('.bk-scroll').scrollWidth <= document.querySelector('.bk-scroll').clientWidth"
    )
    shot(page, f"booking-week-tablet-{language}")
    # and on a smaller tablet held upright (768 px) too: Sunday was cut off there
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate(
        "document.querySelector('.bk-scroll').scrollWidth <= document.querySelector('.bk-scroll').clientWidth"
    )
    # an appointment's page lays out its facts as the other pages do: each name beside its value
    page.goto(f"{live_server.url}{reverse('booking-appointment', args=[booked[1].pk])}")
    patient_name, patient_value = page.locator(".bk-details dt").first, page.locator(".bk-details dd").first
    assert patient_name.bounding_box()["y"] == patient_value.bounding_box()["y"]
    page.check_clean()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_day_view_moves_by_drag(browser_page, live_server, scene):
    page = browser_page
    booked = a_day_of_appointments(scene, 2)
    login_in_browser(page, live_server.url, scene.assistant)
    page.goto(f"{live_server.url}{reverse('booking-day')}?date={TUESDAY}&by=room")
    page.locator(f"#appointment-{booked[0].pk}").scroll_into_view_if_needed()
    block = page.locator(f"#appointment-{booked[0].pk}").bounding_box()
    target_column = page.locator(f'.bk-col[data-column="{scene.other_room.pk}"]').bounding_box()
    assert block and target_column
    rows = int(page.locator(".bk-grid").get_attribute("data-rows"))
    row_height = target_column["height"] / rows
    page.mouse.move(block["x"] + 10, block["y"] + 5)
    page.mouse.down()
    # eight rows (two hours) down, into the other room's column, after its 10:00-11:00 treatment
    page.mouse.move(target_column["x"] + 20, block["y"] + 5 + 8 * row_height, steps=8)
    page.mouse.up()
    page.wait_for_selector(".bk-wrap .notice-success")
    moved = Appointment.objects.get(pk=booked[0].pk)
    assert moved.room == scene.other_room
    assert moved.starts_at == booked[0].starts_at + dt.timedelta(hours=2)
    page.check_clean()
