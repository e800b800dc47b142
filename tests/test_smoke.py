import pytest


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_api_needs_a_token(client):
    response = client.get("/api/v1/patients")
    assert response.status_code in {401, 404}


def test_token_and_authenticated_call(api_as, clinician):
    api = api_as(clinician)
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


@pytest.mark.django_db
def test_wrong_password_is_a_401_problem(client):
    response = client.post(
        "/api/v1/auth/token", {"username": "nobody", "password": "x"}, content_type="application/json"
    )
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_passwords_are_hashed_with_argon2():
    from exoderm import settings as real_settings

    assert real_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
