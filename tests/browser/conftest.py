"""Browser tests: a session-wide table of what every book page measured, printed after the test summary."""

import pytest

_PAGE_REPORT = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def page_report(request) -> list:
    """Lines appended here are printed in a "book pages" section at the end of the run."""
    return request.config.stash.setdefault(_PAGE_REPORT, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = config.stash.get(_PAGE_REPORT, None)
    if lines:
        terminalreporter.section("book pages (1400 x 900, network blocked)")
        for line in lines:
            terminalreporter.write_line(line)
