"""What the browser tests share: Debian's Chromium, the guard against other hosts and CSP
violations (the ``browser_page`` fixture in tests/conftest.py), and screenshots.

Screenshots go to build/screenshots/ (untracked): a test run changes nothing in the work tree;
``make screenshots`` copies them into docs/screenshots/ for the README."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
