"""`manage.py check --deploy` is clean under production settings (the environment of docs/deploy)."""

import os
import secrets
import subprocess
import sys

# Test-only switches of the environment that production never has (Playwright needs the first).
TEST_ONLY = ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "exoderm.example.org",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_COOKIES": "1",
    # password reset links go out by e-mail: production names its SMTP server (check --deploy says so)
    "EMAIL_HOST": "smtp.example.org",
    "DEFAULT_FROM_EMAIL": "exoderm <noreply@example.org>",
}


def _production_env(tmp_path):
    env = {**os.environ, **PRODUCTION_ENV, "EXODERM_DATA_DIR": str(tmp_path)}
    for name in TEST_ONLY:
        env.pop(name, None)
    return env


def test_check_deploy_is_clean(tmp_path):
    env = _production_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "exoderm.cli", "manage", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_default_secret_key_is_refused_in_production(tmp_path):
    env = _production_env(tmp_path)
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "-m", "exoderm.cli", "manage", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr
