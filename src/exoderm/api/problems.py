"""The schema of the API's error bodies (RFC 9457 problem details), for the routers' documented
responses. Its own module: the routers import it, and the API that registers the routers
(``api.main``) does too, so neither imports the other for it."""

from ninja import Schema


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
