"""The dashboard's page HTML: which BokehJS bundles it loads, and the request arguments that change it.

Opening a page costs the browser the scripts it loads and compiles before anything is drawn. Bokeh serves
every bundle by default; the dashboard draws no LaTeX (``bokeh-mathjax``, 1.8 MB of MathJax that Panel adds
whenever an HTML pane is on the page) and no WebGL plot (``bokeh-gl``). :func:`lean_bundles` (called once at
server start, ``apps/setup.py``) leaves them out of every page: 2.0 of the 4.8 MB of script a fresh browser
fetched and compiled. ``bokeh-widgets`` and ``bokeh-tables`` stay (Panel's own bundle needs them).

Tried and left out: ``panel serve --reuse-sessions warm`` (the page HTML of an earlier session answered at
once, the new session built while the browser loads BokehJS). The HTML did arrive sooner, but a session
opened from a reused page never showed the trends page's tiles (tests/test_dashboard_browser.py, run as a
module: test_live_page_gets_one_batched_message_per_refresh). Tried again (Panel 1.9.4, Bokeh 3.9.2): the first
request of a look worked and every later one failed in the browser, the page staying empty, with "Error rendering
Bokeh model: could not find #<element id> HTML tag": the reused HTML and the new session's render items do not
name the same root elements (open; the README's first-paint paragraph says where an open's time goes).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

UNUSED_BOKEHJS = ("bokeh-mathjax", "bokeh-gl")  # bundles no page of the dashboard draws with


def template_look(arguments: dict) -> tuple[str, bool]:
    """(theme, kiosk) of a request's arguments ({name: [bytes]}): what makes the page's template differ.

    >>> template_look({"page": [b"coating"], "theme": [b"dark"]}), template_look({"kiosk": [b"20"]})
    (('dark', False), ('default', True))
    """
    theme = (arguments.get("theme") or [b"default"])[0].decode(errors="replace")
    return ("dark" if theme == "dark" else "default"), kiosk_seconds(arguments) is not None


def kiosk_seconds(arguments: dict) -> float | None:
    """The kiosk period of ``?kiosk=SECONDS`` (a positive number), else None.

    >>> kiosk_seconds({"kiosk": [b"20"]}), kiosk_seconds({"kiosk": [b"x"]}), kiosk_seconds({})
    (20.0, None, None)
    """
    text = (arguments.get("kiosk") or [b""])[0].decode(errors="replace")
    return float(text) if text.replace(".", "", 1).isdigit() and float(text) > 0 else None


LOCAL_RESOURCES = "server"  # bokeh's name for "BokehJS and Panel's CSS from this server"


def serve_locally(environ=None) -> str | None:
    """Make this server (or the ``panel serve`` started with ``environ``) send BokehJS and Panel's CSS
    itself, never a CDN: the shop floor is often air-gapped. Returns the value it overrode, if any.

    ``BOKEH_RESOURCES`` is read on every request; any other value, even one set for another tool,
    sends pages that fetch their stylesheets from cdn.holoviz.org (``inline`` inlines BokehJS but
    still links Panel's CSS to the CDN), so a page without internet shows unstyled widgets.

    >>> env = {"BOKEH_RESOURCES": "inline"}
    >>> serve_locally(env), env["BOKEH_RESOURCES"]
    ('inline', 'server')
    >>> serve_locally(env) is None
    True
    """
    env = os.environ if environ is None else environ
    before = env.get("BOKEH_RESOURCES")
    env["BOKEH_RESOURCES"] = LOCAL_RESOURCES
    if before in (None, LOCAL_RESOURCES):
        return None
    log.warning("dashboard: BOKEH_RESOURCES=%s ignored: pages are served with their assets from this server "
                "(no CDN)", before)
    return before


def lean_bundles() -> bool:
    """Leave :data:`UNUSED_BOKEHJS` out of every page this server sends; False (and a log line) if this
    Panel version renders pages another way (then every bundle is sent, as before)."""
    try:
        import panel.io.server as served
    except ImportError:  # pragma: no cover - Panel is a dependency
        return False
    bundle = getattr(served, "bundle_resources", None)
    if bundle is None or getattr(bundle, "lean", False):
        if bundle is None:
            log.warning("dashboard: panel.io.server has no bundle_resources; every BokehJS bundle is sent")
        return bundle is not None

    def lean(roots, resources, *args, **kwargs):
        if hasattr(resources, "clone") and hasattr(resources, "components"):
            resources = resources.clone(components=[c for c in resources.components if c not in UNUSED_BOKEHJS])
        return bundle(roots, resources, *args, **kwargs)

    lean.lean = True
    served.bundle_resources = lean
    return True


__all__ = ["UNUSED_BOKEHJS", "template_look", "kiosk_seconds", "lean_bundles", "serve_locally"]
