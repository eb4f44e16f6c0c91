"""Settings from the environment (prefix ``TRUSTLEDGER_``), read with pydantic-settings."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.storage.blobs import BlobStores, open_stores


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRUSTLEDGER_", extra="ignore")

    data_dir: Path = Path("./trustledger-data")
    """The SQLite file, the estates' log keys and the voucher store live here."""
    database_url: str | None = None
    """SQLAlchemy URL; default SQLite in DATA_DIR. PostgreSQL: ``postgresql+psycopg://…``."""
    log_origin_host: str = "trustledger.example"
    """Host part of checkpoint origins: ``<host>/estates/<estate>``."""
    public_base_url: str = "http://127.0.0.1:8000"
    """Where residents reach the web pages (used in QR codes and links)."""
    voucher_store: str = ""
    """Where voucher bytes live: empty for ``DATA_DIR/vouchers``, a directory, or
    ``s3://bucket/prefix`` for an S3-compatible store (needs ``trustledger[s3]``;
    credentials from the usual ``AWS_*`` variables)."""
    s3_endpoint_url: str | None = None
    """The S3-compatible service's URL when it is not AWS (MinIO, Ceph, OSS, …)."""
    s3_region: str | None = None
    """The bucket's region, when the service needs one."""
    max_body_bytes: int = 1 << 20
    """Largest JSON body of a single post."""
    max_batch_bytes: int = 16 << 20
    """Largest JSON body of a batch post."""
    max_voucher_bytes: int = 20 << 20
    """Largest voucher file."""
    write_rate: float = 50.0
    """Writes per second allowed per client address (0: no limit)."""
    write_burst: int = 500
    """Writes a client may make at once before the rate applies."""
    rate_limit_redis_url: str | None = None
    """Redis shared by the API's replicas for the rate limits (``redis://host:6379/0``);
    unset: each process keeps its own."""
    operator_auth_rate: float = 5 / 60
    """Failed operator authentications per second allowed per client address (0: no limit)."""
    operator_auth_burst: int = 10
    """Failed operator authentications a client may make before the rate applies."""
    verify_workers: int = 2
    """Processes verifying a batch's signatures while it is read and appended (0: none;
    the append verifies every signature itself)."""
    lang: str = "zh"
    """Language of messages for people: ``zh`` (default) or ``en``."""

    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'trustledger.db'}"

    def blob_stores(self) -> BlobStores:
        return open_stores(
            self.voucher_store,
            self.data_dir,
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
        )

    def origin(self, estate: str) -> str:
        return f"{self.log_origin_host}/estates/{estate}"
