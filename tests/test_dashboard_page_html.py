"""The dashboard's page HTML (apps.dashboard.page_html) loads no BokehJS bundle the dashboard does not draw
with (MathJax, WebGL), while keeping those Panel's own bundle needs."""

from __future__ import annotations

import panel as pn
import panel.io.server as served
from bokeh.resources import Resources as BokehResources
from panel.io.resources import Resources

from apps.dashboard.page_html import lean_bundles


def test_the_page_loads_no_mathjax_or_webgl_bundle(monkeypatch):
    before = served.bundle_resources
    monkeypatch.setattr(served, "bundle_resources", before)  # restored after the test
    assert lean_bundles() and lean_bundles()  # idempotent: wraps once
    # the template's roots: an HTML pane among them (as the sidebar's), a widget
    roots = [pn.pane.HTML("<b>x</b>").get_root(), pn.widgets.RadioButtonGroup(options=["a", "b"]).get_root()]
    resources = Resources.from_bokeh(BokehResources(mode="server", root_url="/"))
    js = lambda bundle: " ".join(str(url) for url in bundle.js_files)  # noqa: E731
    assert "bokeh-mathjax" in js(before(roots, resources))  # Panel adds MathJax for any HTML pane
    lean = js(served.bundle_resources(roots, resources))
    assert "bokeh-mathjax" not in lean and "bokeh-gl" not in lean
    assert all(f"{name}.min.js" in lean for name in ("bokeh", "bokeh-widgets", "bokeh-tables"))
