"""docker-compose.yml and the Dockerfile: parsed and checked, service by service."""

import re

import pytest
import yaml

from tests.sample_site.harness import ROOT


@pytest.fixture(scope="module")
def compose():
    with (ROOT / "docker-compose.yml").open() as stream:
        return yaml.safe_load(stream)


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def test_compose_has_the_five_services(services):
    assert set(services) == {"postgres", "redis", "memcached", "web", "worker"}


@pytest.mark.parametrize(
    ("service", "image", "port"),
    [
        ("postgres", "postgres:", 5432),
        ("redis", "redis:", 6379),
        ("memcached", "memcached:", 11211),
    ],
)
def test_backing_services_use_official_images_on_loopback_ports(services, service, image, port):
    spec = services[service]
    assert spec["image"].startswith(image)
    # The test suite expects them on 127.0.0.1 at the default ports (scripts/services.sh).
    assert f"127.0.0.1:{port}:{port}" in spec["ports"]


@pytest.mark.parametrize("service", ["postgres", "redis", "memcached", "web"])
def test_services_have_health_checks(services, service):
    check = services[service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert check["retries"] > 0


def test_postgres_keeps_its_data_in_a_named_volume(compose, services):
    volume = services["postgres"]["volumes"][0]
    name, target = volume.split(":")
    assert target == "/var/lib/postgresql/data"
    assert name in compose["volumes"]


def test_postgres_needs_no_password_in_the_repository(services):
    environment = services["postgres"]["environment"]
    assert environment["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "POSTGRES_PASSWORD" not in environment


@pytest.mark.parametrize("service", ["web", "worker"])
def test_web_and_worker_build_the_image_and_use_the_services(services, service):
    spec = services[service]
    assert spec["build"] == "."
    environment = spec["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://postgres@postgres:5432/")
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    for dependency in ("postgres", "redis"):
        assert spec["depends_on"][dependency]["condition"] == "service_healthy"


def test_web_runs_demo_setup_then_gunicorn(services):
    web = services["web"]
    command = web["command"]
    assert re.search(r"manage\.py demo_setup &&\s+exec gunicorn demo\.wsgi", command)
    assert "--bind 0.0.0.0:8000" in command
    assert "127.0.0.1:${PORT:-8000}:8000" in web["ports"]


def test_worker_starts_after_web_has_migrated(services):
    worker = services["worker"]
    assert worker["command"].startswith("celery -A demo worker")
    assert worker["depends_on"]["web"]["condition"] == "service_healthy"


def test_dockerfile_installs_the_package_and_serves_the_site():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[1-9]", dockerfile, re.MULTILINE)
    assert 'RUN pip install ".[sample]"' in dockerfile
    assert "COPY sample_site ./sample_site" in dockerfile
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert '"gunicorn", "demo.wsgi"' in dockerfile
    # Everything the image copies exists in the repository.
    for source in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / source).exists(), source
