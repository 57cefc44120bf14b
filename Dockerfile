# syntax=docker/dockerfile:1
# Multi-stage: dependencies are installed from the lock in a build stage; the final image has no
# compilers or pip caches and runs as a non-root user.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /srv/zwc
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/lock.txt requirements/lock.txt
RUN pip install --requirement requirements/lock.txt
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY migrations migrations
COPY docs docs
# Editable install: the `zwc` entry point, with migrations found beside the package.
RUN pip install --no-deps --editable .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ZWC_FILES_DIR=/var/lib/zwc/files ZWC_DATABASE_URL=sqlite:////var/lib/zwc/zwc.db
RUN groupadd --system --gid 10001 zwc && useradd --system --uid 10001 --gid zwc --home-dir /srv/zwc zwc \
    && mkdir -p /var/lib/zwc/files && chown -R zwc:zwc /var/lib/zwc
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=zwc:zwc /srv/zwc /srv/zwc
WORKDIR /srv/zwc
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
CMD ["zwc", "serve", "--host", "0.0.0.0", "--port", "8000"]
