"""exoderm settings: one file, environment variables with typed helpers, SQLite by default.

Every value can be set from the environment; the defaults run the demo on one machine.
Production sets at least SECRET_KEY, DEBUG=0, ALLOWED_HOSTS and usually DATABASE_URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.getenv("EXODERM_DATA_DIR", Path.cwd() / "var")).resolve()

SECRET_KEY = os.getenv("SECRET_KEY", "django-insecure-exoderm-development-key-set-SECRET_KEY-in-production")
DEBUG = envbool("DEBUG", "0")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "django_tasks_db",
    "exoderm.clinics",
    "exoderm.patients",
    "exoderm.consent",
    "exoderm.products",
    "exoderm.treatments",
    "exoderm.courses",
    "exoderm.photos",
    "exoderm.evidence",
    "exoderm.records",
    "exoderm.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "exoderm.web.middleware.PageLoginRequiredMiddleware",
    "exoderm.clinics.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# web pages: show and parse times on the clinic's wall clock.
MIDDLEWARE.insert(
    MIDDLEWARE.index("exoderm.clinics.middleware.UserLanguageMiddleware") + 1,
    "exoderm.web.middleware.ClinicTimeZoneMiddleware",
)
# web pages: 24-hour times and day-month-year dates in English too (see web/formats/en).
FORMAT_MODULE_PATH = ["exoderm.web.formats"]

ROOT_URLCONF = "exoderm.urls"
WSGI_APPLICATION = "exoderm.wsgi.application"
ASGI_APPLICATION = "exoderm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in WAL mode unless DATABASE_URL names another server.
DATABASE_URL = os.getenv("DATABASE_URL", f"sqlite:///{DATA_DIR / 'exoderm.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", "0"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "clinics.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "today"
LOGOUT_REDIRECT_URL = "login"
API_TOKEN_DAYS = envint("API_TOKEN_DAYS", "30")

# Background work: django.tasks with the database backend; `exoderm worker` runs the worker.
TASKS = {
    "default": {
        "BACKEND": os.getenv("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.getenv("STATIC_ROOT") or None  # only for collectstatic behind another web server
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise serves the app's static files straight from the packages (no build step);
    # `exoderm manage collectstatic` is only needed behind a separate web server.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", "1")
# Photos are health data: kept outside any public URL and served through a login-checked view.
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", DATA_DIR / "media"))
PHOTO_QUOTA_BYTES_DEFAULT = envint("PHOTO_QUOTA_BYTES_DEFAULT", str(20 * 1024**3))
PHOTO_MAX_UPLOAD_BYTES = envint("PHOTO_MAX_UPLOAD_BYTES", str(80 * 1024**2))
# A worker that holds an analysis longer than this on another host is presumed lost.
PHOTO_ANALYSIS_LEASE_SECONDS = envint("PHOTO_ANALYSIS_LEASE_SECONDS", "600")
# A deleted photo stays restorable in the trash this many days; photo_housekeeping then erases it.
PHOTO_TRASH_DAYS = envint("PHOTO_TRASH_DAYS", "30")
# Medical records are kept this many years after the last treatment (Germany: §630f (3) BGB);
# a record restricted by an erasure request is erased for good by records_housekeeping after it.
RECORD_RETENTION_YEARS = envint("RECORD_RETENTION_YEARS", "10")
# The largest temperature logger export accepted (a year of readings every 5 minutes is ~3 MB).
# Between upload and confirmation the file is kept in the user's (server-side) session.
TEMPERATURE_UPLOAD_MAX_BYTES = envint("TEMPERATURE_UPLOAD_MAX_BYTES", str(5 * 1024**2))
# How long a clinic admin may read a restricted record after giving a reason.
RESTRICTED_ACCESS_MINUTES = envint("RESTRICTED_ACCESS_MINUTES", "15")

# Security: strict CSP with nonces, secure cookies behind TLS in production.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(8 * 3600))
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "0")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", "0" if DEBUG else "1")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "0")
if envbool("BEHIND_TLS_PROXY", "0"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(10 * 1024**2))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024**2

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
