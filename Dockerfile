# The sample site image, for the web (gunicorn) and worker (Celery) services of docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SAMPLE_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY omnitenant ./omnitenant
RUN pip install ".[sample]"

COPY sample_site ./sample_site
RUN useradd --create-home --uid 1000 app && mkdir -p /data && chown app /data
USER app
WORKDIR /app/sample_site

EXPOSE 8000
CMD ["gunicorn", "demo.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--access-logfile", "-"]
