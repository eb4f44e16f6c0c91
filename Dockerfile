# trustledger service image. Build: docker build -t trustledger .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRUSTLEDGER_DATA_DIR=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 fonts-noto-cjk fonts-dejavu-core postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY audits ./audits
COPY statements ./statements
COPY api ./api
RUN pip install --no-cache-dir '.[s3,redis]'

RUN useradd --system --uid 10001 --home /data trustledger \
 && mkdir -p /data && chown trustledger /data
USER trustledger
VOLUME ["/data"]
EXPOSE 8000

# Apply migrations, then serve. `trustledger serve` also migrates, but doing it as a
# separate step makes a failed migration visible before the server starts.
CMD ["sh", "-c", "trustledger init && trustledger serve --host 0.0.0.0 --port 8000 --workers 2"]
