"""Altair charts that draw in the built book with no network, and compare cleanly under nbval.

The ``clipneuron`` renderer gives every chart three representations:

* ``application/vnd.vegalite.v6+json`` — JupyterLab draws it natively when a reader reruns a notebook;
* ``text/html`` — a ``<div>`` plus a call to ``vegaEmbed``; the book serves Vega, Vega-Lite and
  Vega-Embed itself (``_static/vega-bundle.js``, written by :func:`write_bundle` from vl-convert's
  bundle), so nothing is fetched from a CDN when a page is opened;
* ``text/plain`` — a short fingerprint (title, mark, encodings, data size) that nbval compares.

The chart's element id is derived from its spec, so reruns give identical HTML.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import altair as alt

RENDERER = "clipneuron"
BUNDLE_NAME = "vega-bundle.js"
VEGALITE_MIME = f"application/vnd.vegalite.{alt.SCHEMA_VERSION.split('.')[0]}+json"

_HTML = """<div id="{id}" class="clipneuron-chart"></div>
<script type="text/javascript">
(function () {{
  var spec = {spec};
  function draw() {{
    if (typeof window.vegaEmbed !== "function") {{ return false; }}
    window.vegaEmbed("#{id}", spec, {{renderer: "svg", actions: false}}).catch(console.error);
    return true;
  }}
  if (!draw()) {{
    var tries = 0;
    var timer = setInterval(function () {{
      if (draw() || ++tries > 200) {{ clearInterval(timer); }}
    }}, 50);
  }}
}})();
</script>"""


def _title(spec: dict) -> str:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    return str(title) if title else ""


def _layers(spec: dict):
    """Every unit spec inside a (layered, faceted, concatenated) chart."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for sub in spec.get(key, []):
            yield from _layers(sub)
    if "spec" in spec:
        yield from _layers(spec["spec"])


def _inline_rows(spec) -> int:
    """Rows of every inline ``data: {values: [...]}`` anywhere in the spec."""
    if isinstance(spec, dict):
        own = len(spec["values"]) if isinstance(spec.get("values"), list) else 0
        return own + sum(_inline_rows(v) for k, v in spec.items() if k not in ("values", "datasets"))
    if isinstance(spec, list):
        return sum(_inline_rows(v) for v in spec)
    return 0


def fingerprint(spec: dict) -> str:
    """A stable one-paragraph description of a chart, for nbval's text/plain comparison."""
    parts = []
    for unit in _layers(spec):
        mark = unit["mark"]["type"] if isinstance(unit["mark"], dict) else unit["mark"]
        fields = sorted(
            f"{channel}={enc.get('field', enc.get('aggregate', enc.get('value', '?')))}"
            for channel, enc in unit.get("encoding", {}).items()
            if isinstance(enc, dict)
        )
        parts.append(f"{mark}({', '.join(fields)})")
    rows = sum(len(v) for v in spec.get("datasets", {}).values()) + _inline_rows(spec)
    facet = " faceted" if "facet" in spec or "spec" in spec else ""
    return f"<Chart{facet} {_title(spec)!r}: {' + '.join(parts)}; {rows} data rows>"


def renderer(spec: dict, **_: object) -> dict:
    """Altair renderer: the three representations described in the module docstring."""
    text = json.dumps(spec, sort_keys=True)
    chart_id = "altair-viz-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    html = _HTML.format(id=chart_id, spec=text.replace("</", "<\\/"))
    return {VEGALITE_MIME: spec, "text/html": html, "text/plain": fingerprint(spec)}


def enable() -> None:
    """Register and enable the ``clipneuron`` renderer; embed data inline (no external files)."""
    alt.renderers.register(RENDERER, renderer)
    alt.renderers.enable(RENDERER)
    alt.data_transformers.disable_max_rows()


def vegalite_version() -> str:
    """The Vega-Lite version Altair writes, as vl-convert names it (e.g. ``"6.4"``)."""
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    available = vlc.get_vegalite_versions()
    if wanted in available:
        return wanted
    return available[-1]


def write_bundle(static_dir: str | Path) -> Path:
    """Write Vega + Vega-Lite + Vega-Embed as one script the book loads from ``_static``."""
    import vl_convert as vlc

    from ..artifacts import write_text

    path = Path(static_dir) / BUNDLE_NAME
    bundle = vlc.javascript_bundle(vl_version=vegalite_version())
    # a classic script shares one global scope with the theme's: keep the bundle's names private
    return write_text(path, "(function () {\n" + bundle + "\n})();\n")
