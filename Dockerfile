# The production image: one image for web, worker and beat (see docker-compose.yml).
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && mkdir -p vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.js \
       node_modules/chart.js/dist/chart.umd.js.map vendor/

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements/base.lock requirements/base.lock
RUN pip install --require-hashes -r requirements/base.lock
COPY . .
COPY --from=assets /app/vendor static/vendor
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v 0
# var/clicks exists in the image so the journal volume mounted there belongs to advocate.
RUN mkdir -p var/clicks && useradd --create-home advocate && chown -R advocate /app
USER advocate
EXPOSE 8000
# --timeout 120: a bulk of 1,000 API events takes well under a second set-based, but one that
# falls back to the event-by-event path (racing deliveries) may take tens of seconds.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
