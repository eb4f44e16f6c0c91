"""Settings from the environment (prefix ``TRUSTLEDGER_``), read with pydantic-settings."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


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
    lang: str = "zh"
    """Language of messages for people: ``zh`` (default) or ``en``."""

    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'trustledger.db'}"

    def origin(self, estate: str) -> str:
        return f"{self.log_origin_host}/estates/{estate}"
