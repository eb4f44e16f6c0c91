"""Voucher bytes in an S3-compatible object store (AWS S3, MinIO, Ceph, Alibaba OSS, …).

Optional: needs ``boto3`` (``pip install 'trustledger[s3]'``). Chosen with
``TRUSTLEDGER_VOUCHER_STORE=s3://bucket/prefix`` (see :func:`ledger.storage.blobs.open_stores`).
Credentials come from boto3's usual places (``AWS_ACCESS_KEY_ID`` …, a profile, an
instance role); ``endpoint_url`` points at a store other than AWS.

An estate's blob ``abcd…`` is the object ``<prefix><estate>/abcd…``. The store is
content-addressed like :class:`~ledger.storage.blobs.FilesystemBlobStore`:

- ``put`` sends ``Content-MD5`` so the store refuses bytes damaged on the way, and an
  object is visible only once whole (S3 has no partial objects);
- ``get`` hashes what comes back and refuses bytes that do not match their name;
- ``delete`` (a redaction) also removes every older version and delete marker when the
  bucket keeps versions: withdrawn personal data must not stay behind as a version.

Every failure of the store (unreachable, refused credentials, missing bucket) is a
:class:`~ledger.storage.blobs.BlobStoreUnavailable`, an ``OSError`` like the
filesystem store's failures, which the API answers with 503.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ledger.storage.blobs import BlobStoreUnavailable, check_blob, check_name

_ABSENT = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_VERSIONS = frozenset({"NotImplemented", "XNotImplemented", "MethodNotAllowed"})


def _code(e: Exception) -> str:
    response = getattr(e, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3BlobStores:
    """The voucher stores of all estates in one bucket (call it with an estate id)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise BlobStoreUnavailable("an S3 voucher store needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as e:  # pragma: no cover - depends on the installation
                raise BlobStoreUnavailable(
                    "the S3 voucher store needs boto3: pip install 'trustledger[s3]'"
                ) from e
            config = Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                # Stores other than AWS often refuse the newer flexible checksums; the
                # integrity check here is Content-MD5 on put and SHA-256 on get.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config
            )
        self.client = client

    def __call__(self, estate: str) -> S3BlobStore:
        return S3BlobStore(self, f"{self.prefix}{estate}/")

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def check(self) -> None:
        """Raise :class:`BlobStoreUnavailable` unless the bucket answers."""
        self._call("head_bucket", Bucket=self.bucket)

    def _call(self, op: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as e:
            if _code(e) in _ABSENT and op in ("head_object", "get_object"):
                return None
            if _code(e) in _NO_VERSIONS and op == "list_object_versions":
                return {}
            raise BlobStoreUnavailable(
                f"voucher store {self.describe()}: {op} failed: {_code(e) or e}"
            ) from e
        except BotoCoreError as e:  # unreachable endpoint, no credentials, timeouts
            raise BlobStoreUnavailable(f"voucher store {self.describe()}: {e}") from e

    def _read(self, body: Any) -> bytes:
        """The bytes of a download's stream (which may break after the answer began)."""
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = body.read()
        except (BotoCoreError, OSError) as e:
            raise BlobStoreUnavailable(f"voucher store {self.describe()}: {e}") from e
        return data


class S3BlobStore:
    """One estate's vouchers: the objects under ``<prefix><estate>/``."""

    def __init__(self, stores: S3BlobStores, key_prefix: str) -> None:
        self.stores = stores
        self.key_prefix = key_prefix

    def _key(self, sha256: str) -> str:
        check_name(sha256)
        return self.key_prefix + sha256

    def put(self, sha256: str, data: bytes) -> bool:
        key = self._key(sha256)
        check_blob(sha256, data)
        if self.exists(sha256):
            return False
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self.stores._call(
            "put_object", Bucket=self.stores.bucket, Key=key, Body=data, ContentMD5=md5
        )
        return True

    def get(self, sha256: str) -> bytes | None:
        answer = self.stores._call("get_object", Bucket=self.stores.bucket, Key=self._key(sha256))
        if answer is None:
            return None
        data: bytes = self.stores._read(answer["Body"])
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobStoreUnavailable(
                f"voucher store {self.stores.describe()}: the object {self._key(sha256)} "
                "does not hash to its name"
            )
        return data

    def exists(self, sha256: str) -> bool:
        answer = self.stores._call("head_object", Bucket=self.stores.bucket, Key=self._key(sha256))
        return answer is not None

    def delete(self, sha256: str) -> None:
        key = self._key(sha256)
        bucket = self.stores.bucket
        # Unversioned bucket: the object is gone. Versioned: a delete marker, removed below.
        self.stores._call("delete_object", Bucket=bucket, Key=key)
        marker: dict[str, str] = {}
        while True:
            page = self.stores._call("list_object_versions", Bucket=bucket, Prefix=key, **marker)
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if v.get("Key") == key and v.get("VersionId") not in (None, "null"):
                    self.stores._call(
                        "delete_object", Bucket=bucket, Key=key, VersionId=v["VersionId"]
                    )
            if not page.get("IsTruncated"):
                return
            marker = {
                "KeyMarker": page["NextKeyMarker"],
                "VersionIdMarker": page["NextVersionIdMarker"],
            }
