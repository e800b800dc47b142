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


# Every visible element's right edge against the viewport's; an element inside a box that scrolls
# sideways on purpose (overflow-x: auto or scroll, as a wide table's or the appointment grid's) is
# reachable and does not count. Each finding names the element and how far it reaches.
CUT_OFF_SCRIPT = """
() => {
  const width = window.innerWidth;
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > width) found.push(`the page is ${root.scrollWidth} px wide`);
  const scrollsSideways = element => {
    for (let box = element.parentElement; box && box !== document.body; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') return true;
    }
    return false;
  };
  const name = element => element.tagName.toLowerCase()
    + (element.id ? '#' + element.id : '')
    + (element.classList.length ? '.' + [...element.classList].join('.') : '');
  for (const element of document.body.querySelectorAll('*')) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= width + 0.5) continue;
    if (!element.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    if (scrollsSideways(element)) continue;
    found.push(`${name(element)} reaches ${Math.round(box.right)} px`);
  }
  return found;
}
"""


def cut_off(page) -> list[str]:
    """What the page shows beyond the viewport's right edge (empty: nothing is cut off).

    Checked at the top of the page, scrolled to its left edge, as a user opens it."""
    page.evaluate("window.scrollTo(0, window.scrollY)")
    return page.evaluate(CUT_OFF_SCRIPT)


# A box that scrolls sideways on purpose is a table's frame (.tablewrap) or the appointment grid's
# (.bk-scroll); any other box scrolling sideways (a card) takes its heading and links along, and a
# table outside a frame widens whatever holds it. Each finding names the box or the table.
SIDEWAYS_SCRIPT = """
() => {
  const frames = '.tablewrap, .bk-scroll';
  const found = [];
  const name = element => element.tagName.toLowerCase()
    + (element.id ? '#' + element.id : '')
    + (element.classList.length ? '.' + [...element.classList].join('.') : '');
  for (const element of document.querySelectorAll('main *')) {
    const overflow = getComputedStyle(element).overflowX;
    if ((overflow === 'auto' || overflow === 'scroll') && !element.matches(frames)
        && element.scrollWidth > element.clientWidth + 1)
      found.push(`${name(element)} scrolls sideways (${element.scrollWidth} px in ${element.clientWidth})`);
  }
  for (const table of document.querySelectorAll('main table')) {
    if (!table.closest(frames)) found.push(`${name(table)} in ${name(table.parentElement)}`);
  }
  return found;
}
"""


def scrolls_sideways(page) -> list[str]:
    """What scrolls sideways other than a table inside its own frame (empty: only tables do)."""
    return page.evaluate(SIDEWAYS_SCRIPT)
