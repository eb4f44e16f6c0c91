"""The voucher stores: the filesystem's and the S3-compatible one keep the same contract.

The S3 store runs against a real S3-compatible server over HTTP (``s3_endpoint``:
moto's server on 127.0.0.1), a fresh bucket per test.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from api.settings import Settings
from ledger.errors import InvalidInput
from ledger.storage.blobs import (
    BlobStores,
    BlobStoreUnavailable,
    FilesystemBlobStores,
    open_stores,
)
from ledger.storage.blobs_s3 import S3BlobStores

PDF = b"%PDF-1.7\n% invoice\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PNG_SHA = hashlib.sha256(PNG).hexdigest()


@pytest.fixture(params=["filesystem", "s3"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStores:
    if request.param == "filesystem":
        return FilesystemBlobStores(tmp_path / "vouchers")
    s3: S3BlobStores = request.getfixturevalue("s3_stores")
    return s3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bytes_round_trip_and_delete(stores: BlobStores) -> None:
    store = stores("estate-a")
    assert not store.exists(SHA) and store.get(SHA) is None
    store.put(SHA, PDF)
    assert store.exists(SHA) and store.get(SHA) == PDF
    store.put(SHA, PDF)  # the same bytes again: nothing changes
    assert store.get(SHA) == PDF
    store.delete(SHA)
    assert not store.exists(SHA) and store.get(SHA) is None
    store.delete(SHA)  # absent bytes: not an error


def test_estates_do_not_share_vouchers(stores: BlobStores) -> None:
    stores("estate-a").put(SHA, PDF)
    assert not stores("estate-b").exists(SHA)
    stores("estate-b").delete(SHA)
    assert stores("estate-a").get(SHA) == PDF


def test_bytes_that_do_not_hash_to_their_name_are_refused(stores: BlobStores) -> None:
    store = stores("estate-a")
    with pytest.raises(InvalidInput) as e:
        store.put(SHA, PNG)
    assert e.value.field == "sha256"
    assert not store.exists(SHA) and not store.exists(PNG_SHA)


@pytest.mark.parametrize(
    "name", ["../" + SHA[3:], SHA.upper(), SHA[:63], SHA + "0", "", "a/" + SHA[2:]]
)
def test_names_other_than_a_lowercase_sha256_are_refused(stores: BlobStores, name: str) -> None:
    store = stores("estate-a")
    for call in (store.get, store.exists, store.delete):
        with pytest.raises(InvalidInput):
            call(name)
    with pytest.raises(InvalidInput):
        store.put(name, PDF)


def test_s3_objects_are_named_by_prefix_estate_and_hash(s3_stores: S3BlobStores) -> None:
    s3_stores("estate-a").put(SHA, PDF)
    listed = s3_stores.client.list_objects_v2(Bucket=s3_stores.bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"vouchers/estate-a/{SHA}"]


def test_s3_redaction_removes_every_version(s3_stores: S3BlobStores) -> None:
    """On a bucket that keeps versions, a plain delete would leave the bytes as a version."""
    client, bucket = s3_stores.client, s3_stores.bucket
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = s3_stores("estate-a")
    store.put(SHA, PDF)
    key = f"vouchers/estate-a/{SHA}"
    client.put_object(Bucket=bucket, Key=key, Body=PDF)  # a second version of the same bytes
    store.put(PNG_SHA, PNG)  # another voucher, which must stay
    assert len(client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 2
    store.delete(SHA)
    left = client.list_object_versions(Bucket=bucket)
    assert "DeleteMarkers" not in left
    assert [v["Key"] for v in left["Versions"]] == [f"vouchers/estate-a/{PNG_SHA}"]
    assert store.get(PNG_SHA) == PNG


def test_s3_bytes_changed_in_the_bucket_are_not_served(s3_stores: S3BlobStores) -> None:
    s3_stores("estate-a").put(SHA, PDF)
    s3_stores.client.put_object(
        Bucket=s3_stores.bucket, Key=f"vouchers/estate-a/{SHA}", Body=PDF + b"tampered"
    )
    with pytest.raises(BlobStoreUnavailable, match="does not hash to its name"):
        s3_stores("estate-a").get(SHA)


def test_an_unreachable_s3_store_is_unavailable_for_every_call(s3_endpoint: str) -> None:
    stores = S3BlobStores(
        "vouchers", endpoint_url=f"http://127.0.0.1:{_closed_port()}", region="cn-north-1"
    )
    store = stores("estate-a")
    calls = [
        stores.check,
        lambda: store.get(SHA),
        lambda: store.exists(SHA),
        lambda: store.put(SHA, PDF),
        lambda: store.delete(SHA),
    ]
    for call in calls:
        with pytest.raises(BlobStoreUnavailable, match="s3://vouchers/"):
            call()


def test_a_missing_bucket_is_unavailable(s3_endpoint: str) -> None:
    stores = S3BlobStores("no-such-bucket", endpoint_url=s3_endpoint, region="cn-north-1")
    with pytest.raises(BlobStoreUnavailable, match="head_bucket"):
        stores.check()
    with pytest.raises(BlobStoreUnavailable):
        stores("estate-a").put(SHA, PDF)


def test_a_filesystem_store_that_cannot_write_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "vouchers").write_text("not a directory")
    stores = FilesystemBlobStores(tmp_path / "vouchers")
    with pytest.raises(BlobStoreUnavailable):
        stores("estate-a").put(SHA, PDF)
    with pytest.raises(BlobStoreUnavailable):
        stores("estate-a").get(SHA)


def test_open_stores_reads_the_setting(tmp_path: Path) -> None:
    default = open_stores("", tmp_path)
    assert isinstance(default, FilesystemBlobStores) and default.root == tmp_path / "vouchers"
    for spec in (str(tmp_path / "elsewhere"), f"file://{tmp_path}/elsewhere"):
        store = open_stores(spec, tmp_path)
        assert isinstance(store, FilesystemBlobStores) and store.root == tmp_path / "elsewhere"
    s3 = open_stores("s3://bucket/a/b/", tmp_path, endpoint_url="http://127.0.0.1:9")
    assert isinstance(s3, S3BlobStores)
    assert (s3.bucket, s3.prefix, s3.describe()) == ("bucket", "a/b/", "s3://bucket/a/b/")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert open_stores("s3://bucket", tmp_path).prefix == ""  # type: ignore[attr-defined]
    for bad in ("ftp://host/x", "s3:///prefix-without-bucket"):
        with pytest.raises(BlobStoreUnavailable, match="voucher store"):
            open_stores(bad, tmp_path)


def test_settings_choose_the_store_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRUSTLEDGER_VOUCHER_STORE", "s3://estate-vouchers/prod")
    monkeypatch.setenv("TRUSTLEDGER_S3_ENDPOINT_URL", "http://minio.internal:9000")
    monkeypatch.setenv("TRUSTLEDGER_S3_REGION", "cn-east-1")
    stores = Settings(data_dir=tmp_path).blob_stores()
    assert isinstance(stores, S3BlobStores)
    assert stores.describe() == "s3://estate-vouchers/prod/"
    assert stores.client.meta.endpoint_url == "http://minio.internal:9000"
    assert stores.client.meta.region_name == "cn-east-1"


def test_a_download_that_breaks_midway_is_unavailable(
    s3_stores: S3BlobStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ResponseStreamingError

    s3_stores("estate-a").put(SHA, PDF)
    real = s3_stores.client.get_object

    def breaking(**kwargs: object) -> dict[str, object]:
        answer = real(**kwargs)

        class Broken:
            def read(self) -> bytes:
                answer["Body"].read(5)
                raise ResponseStreamingError(error="connection reset")

        return {**answer, "Body": Broken()}

    monkeypatch.setattr(s3_stores.client, "get_object", breaking)
    with pytest.raises(BlobStoreUnavailable, match="connection reset"):
        s3_stores("estate-a").get(SHA)
