import pytest

from tests.sample_site.harness import VARIANTS, RunningSite


@pytest.fixture(scope="session", params=VARIANTS)
def site(request, tmp_path_factory):
    """The sample site served by gunicorn, once per variant for the whole session."""
    running = RunningSite(request.param, tmp_path_factory.mktemp(f"site-{request.param}"))
    try:
        running.start()
        yield running
    finally:
        running.stop()
