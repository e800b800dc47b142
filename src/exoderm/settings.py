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
# The data directory holds the database, the photos and (by default) the master key: owner only.
if not DATA_DIR.exists():
    DATA_DIR.mkdir(mode=0o700, parents=True)

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
    "exoderm.booking",
    "exoderm.photos",
    "exoderm.evidence",
    "exoderm.records",
    "exoderm.vault",
    "exoderm.audit",
    "exoderm.ops",
    "exoderm.studies",
    "exoderm.messaging",
    "exoderm.web",
    "exoderm.safety",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # first after security: every response carries X-Request-ID, every write of a request its context
    "exoderm.audit.reads.AuditMiddleware",
    # inside the audit's: its request id is set when a request is measured and logged
    "exoderm.ops.middleware.RequestMetricsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "exoderm.web.middleware.PageLoginRequiredMiddleware",
    "exoderm.clinics.middleware.IdleSessionMiddleware",
    "exoderm.clinics.middleware.TemporaryPasswordMiddleware",
    "exoderm.clinics.middleware.SecondFactorEnrolmentMiddleware",
    "exoderm.clinics.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # after authentication and language (their pages are worded for the user), before any view
    # or CSRF check reads the body
    "exoderm.web.middleware.RequestSizeLimitMiddleware",
]
# every response but static files (WhiteNoise answers those before it): no-store, Permissions-Policy
MIDDLEWARE.insert(
    MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1,
    "exoderm.web.middleware.SecurityHeadersMiddleware",
)

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
# A connection kept between requests (DB_CONN_MAX_AGE seconds) is checked before a request uses it:
# one that the database ended while it was idle (a restart, a failover) is opened anew instead of
# failing that request with 503.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=envint("DB_CONN_MAX_AGE", "0"),
        conn_health_checks=envbool("DB_CONN_HEALTH_CHECKS", "1"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000;"
        ),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A statement that runs longer is cancelled and the request answered with 503 (see
    # web/views/errors.py) instead of holding a worker and a connection while the database struggles.
    # 0 switches it off, e.g. for a migration that rewrites a large table.
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options["options"] = (
        f"{_pg_options.get('options', '')} -c statement_timeout={envint('DB_STATEMENT_TIMEOUT_MS', '30000')}"
    ).strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "clinics.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # the similarity ratio above lets a name plus digits through ("huber12345" for Huber)
    {"NAME": "exoderm.clinics.passwords.NameInPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "today"
LOGOUT_REDIRECT_URL = "login"
API_TOKEN_DAYS = envint("API_TOKEN_DAYS", "30")

# Sign-in throttling (web login and POST /api/v1/auth/token): LOGIN_FAILURE_LIMIT failures for one
# username within LOGIN_FAILURE_WINDOW_MINUTES lock it for LOGIN_LOCK_MINUTES; a client address is
# locked after LOGIN_ADDRESS_FAILURE_LIMIT failures across usernames in the same window.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "10")
LOGIN_ADDRESS_FAILURE_LIMIT = envint("LOGIN_ADDRESS_FAILURE_LIMIT", "50")
LOGIN_FAILURE_WINDOW_MINUTES = envint("LOGIN_FAILURE_WINDOW_MINUTES", "15")
LOGIN_LOCK_MINUTES = envint("LOGIN_LOCK_MINUTES", "15")
# Behind a reverse proxy every request comes from the proxy's address: name the header the proxy
# sets to the client's address (e.g. X-Forwarded-For; its last entry is used). Empty: REMOTE_ADDR.
CLIENT_ADDRESS_HEADER = os.getenv("CLIENT_ADDRESS_HEADER", "")
# Seconds a correct password waits for its second-factor code before the sign-in starts over.
MFA_STEP_SECONDS = envint("MFA_STEP_SECONDS", "300")
# The issuer shown next to the account in authenticator apps.
MFA_ISSUER = os.getenv("MFA_ISSUER", "exoderm")
# A web session without a request for this long ends (SESSION_COOKIE_AGE still caps its whole life).
SESSION_IDLE_MINUTES = envint("SESSION_IDLE_MINUTES", "30")

# E-mail (password reset links), with Django 6.1's MAILERS: SMTP when EMAIL_HOST is set, else written
# to the log (console backend), which suits the demo and development; production sets EMAIL_HOST and
# DEFAULT_FROM_EMAIL (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS as needed).
_email_host = os.getenv("EMAIL_HOST", "")  # lower case: not itself a (deprecated) setting
MAILERS = {
    "default": (
        {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": envint("EMAIL_PORT", "587"),
                "username": os.getenv("EMAIL_HOST_USER", ""),
                "password": os.getenv("EMAIL_HOST_PASSWORD", ""),
                "use_tls": envbool("EMAIL_USE_TLS", "1"),
                "timeout": envint("EMAIL_TIMEOUT", "20"),
            },
        }
        if _email_host
        else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    )
}
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "exoderm <noreply@localhost>")
# A password reset link works once, and only this long.
PASSWORD_RESET_TIMEOUT = envint("PASSWORD_RESET_TIMEOUT", str(3600))

# Messages to patients (exoderm.messaging): e-mails go through MAILERS above; SMS through the gateway
# SMS_BACKEND names: "console" (the log, and SMS_FILE if set: one JSON line per SMS; the demo) or
# "http" (POST to SMS_GATEWAY_URL with the bearer SMS_GATEWAY_TOKEN, see messaging/channels.py).
SMS_BACKEND = os.getenv("SMS_BACKEND", "console")
SMS_GATEWAY_URL = os.getenv("SMS_GATEWAY_URL", "")
SMS_GATEWAY_TOKEN = os.getenv("SMS_GATEWAY_TOKEN", "")
SMS_SENDER = os.getenv("SMS_SENDER", "exoderm")
SMS_TIMEOUT = envint("SMS_TIMEOUT", "15")
SMS_FILE = os.getenv("SMS_FILE", "")
# A worker sending a message holds it this long; one that is gone by then (killed, machine lost)
# leaves it to the next worker. Failed attempts are retried with backoff up to MESSAGE_MAX_ATTEMPTS.
MESSAGE_LEASE_SECONDS = envint("MESSAGE_LEASE_SECONDS", "300")
MESSAGE_MAX_ATTEMPTS = envint("MESSAGE_MAX_ATTEMPTS", "6")
MESSAGE_RETRY_SECONDS = envint("MESSAGE_RETRY_SECONDS", "60")
# Reminders go out this many hours before a visit.
MESSAGE_REMINDER_HOURS = envint("MESSAGE_REMINDER_HOURS", "48")
# The periodic task that queues due messages runs this often (`exoderm worker` starts it).
MESSAGE_HOUSEKEEPING_MINUTES = envint("MESSAGE_HOUSEKEEPING_MINUTES", "5")

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
# Each worker beats this often; three missed beats mark it gone (/readyz, and its analyses re-queued).
WORKER_HEARTBEAT_SECONDS = envint("WORKER_HEARTBEAT_SECONDS", "30")
# This often one worker of all (whichever claims the turn) re-queues the analyses of workers gone.
PHOTO_RECOVERY_SECONDS = envint("PHOTO_RECOVERY_SECONDS", "60")
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
# Encryption at rest (exoderm.vault): photo files are encrypted with per-clinic data keys, which the
# database holds only wrapped by this master key: base64 of 32 bytes, from the variable or a file.
# With neither set, the file below is created once (mode 0600); production keeps it on another
# disk or in a secrets manager, and never in a backup.
EXODERM_MASTER_KEY = os.getenv("EXODERM_MASTER_KEY", "")
EXODERM_MASTER_KEY_FILE = Path(os.getenv("EXODERM_MASTER_KEY_FILE", DATA_DIR / "master.key"))

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
# Browser features our pages may use: the camera for photo capture on phones and tablets (file
# input with ``capture``), nothing else. Sent as the Permissions-Policy header on every response.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "camera": ["self"],
    "microphone": [],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "serial": [],
    "hid": [],
    "midi": [],
    "display-capture": [],
    "screen-wake-lock": [],
    "accelerometer": [],
    "gyroscope": [],
    "magnetometer": [],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(8 * 3600))
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "0")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", "0" if DEBUG else "1")
# A deployment that serves TLS (redirects to it, or sits behind a TLS proxy) tells browsers to use
# nothing else for a year, unless SECURE_HSTS_SECONDS says otherwise (0 switches HSTS off).
TLS_CONFIGURED = SECURE_SSL_REDIRECT or envbool("BEHIND_TLS_PROXY", "0")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", str(365 * 24 * 3600) if TLS_CONFIGURED else "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "0")
if envbool("BEHIND_TLS_PROXY", "0"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(10 * 1024**2))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024**2

# The audit trail (exoderm.audit) records every write and every read of patient data. Not an
# environment variable on purpose: only bench/audit.py turns it off, to measure what it costs.
AUDIT_ENABLED = True

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500

# LOG_FORMAT=json: one JSON object per line with the request id (exoderm.ops.logs), and a line per
# request (method, route, status, ms); text, the default, leaves the request lines to the server.
LOG_FORMAT = os.getenv("LOG_FORMAT", "text")
# LOG_TASK_PROGRESS=0: the worker logs no line per task started and finished, only failed tasks
# (`exoderm demo` sets it, so that the sign-ins stay on the screen)
LOG_TASK_PROGRESS = envbool("LOG_TASK_PROGRESS", "1")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "exoderm.ops.logs.JsonFormatter"}},
    "filters": {
        "task_progress": {
            "()": "exoderm.ops.logs.WarningsOnlyFrom",
            "loggers": ["django.tasks"],
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"}
        | ({"formatter": "json"} if LOG_FORMAT == "json" else {})
        | ({} if LOG_TASK_PROGRESS else {"filters": ["task_progress"]})
    },
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "exoderm.requests": {"level": "INFO" if LOG_FORMAT == "json" else "WARNING"},
        # fpdf2 subsets the embedded fonts of every PDF with fontTools, which reports each step at
        # INFO (75 lines before `make demo` printed its sign-ins)
        "fontTools": {"level": "WARNING"},
    },
}

# The bearer token a Prometheus scraper sends to /metrics; empty: no /metrics at all.
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "")
