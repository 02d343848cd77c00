"""Sphinx extension for the book: offline charts and a clean page (no JavaScript errors).

* Serves Vega, Vega-Lite and Vega-Embed from ``_static/vega-bundle.js`` (vl-convert's bundle, wrapped in
  a function so its top-level names cannot clash with the theme's scripts), so Altair charts draw with no
  network.
* Serves itables' DataTables bundle from ``_static/itables/dt_bundle.js`` and ``.css`` (copied from the
  installed itables package), which the interactive tables of :mod:`clipneuron_utils.render.tables` import: the
  ~0.7 MB bundle is served once for the book instead of being embedded in each page that has a table.
* Drops duplicated inline scripts: with Sphinx 7, Jupyter Book 1 registers some extensions' inline
  scripts twice (``const THEBE_JS_URL`` declared twice is a JavaScript error on every page).
"""

from __future__ import annotations

from pathlib import Path

from . import charts, tables


def _write_bundle(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        charts.write_bundle(static)
        tables.write_bundle(static)


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the twin of an inline script has filename None where the first has "": compare what renders
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.add_js_file(charts.BUNDLE_NAME)
    app.connect("build-finished", _write_bundle)
    app.connect("html-page-context", _dedupe_scripts, priority=200)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
