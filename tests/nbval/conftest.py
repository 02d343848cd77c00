"""nbval compares the text of outputs (text/plain, text/markdown, stdout), not their HTML or chart JSON.

HTML tables and the charts' Vega-Lite JSON repeat what text/plain already says (the chart renderer's
text/plain is a fingerprint of the chart: marks, fields, data size), and their ids and float formatting
vary in ways the sanitize file cannot follow. stderr carries progress bars and library load messages,
whose presence depends on caches and terminal width, never results.
"""

SKIP = ("text/html", "application/vnd.vegalite.v5+json", "application/vnd.vegalite.v6+json",
        "application/javascript", "stderr")


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        parent = item.parent
        skip = getattr(parent, "skip_compare", None)
        if skip is not None and "text/html" not in skip:
            parent.skip_compare = tuple(skip) + SKIP
