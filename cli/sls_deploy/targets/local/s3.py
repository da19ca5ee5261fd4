"""The local target's S3: buckets as folders under <state>/s3/, served to functions over an S3-compatible
HTTP endpoint on localhost, so the handler's own boto3 S3 path (get_object/put_object) runs unchanged.

Layout: <state>/s3/<bucket>/<key> holds an object's bytes (a key's '/' are folders);
<state>/s3/.meta/<bucket>/<key>.json its content type and ETag. A bucket exists when its folder does
(`put_object` creates it; a write into a missing bucket is NoSuchBucket, as on S3).

The endpoint speaks the path-style REST calls a function makes — PutObject, GetObject, HeadObject,
DeleteObject, ListObjectsV2 (prefix, max-keys) — with S3's XML errors (NoSuchKey, NoSuchBucket, BadDigest,
…). boto3 reaches it through AWS_ENDPOINT_URL_S3 (botocore addresses an IP endpoint path-style). Signatures
are not checked: it listens on 127.0.0.1 only. Checksums a client sends (Content-MD5, x-amz-checksum-crc32)
are verified, as S3 does.

Side effects: files below <state>/s3/; a daemon thread serving a localhost port per state folder and process.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from ...core.errors import TargetError
from ..events import StoredObject

MAX_LIST_KEYS = 1000


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, resource: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # hex MD5
    content_type: str
    modified: float


class LocalObjectStore:
    """Objects under <state>/s3/: put, get, head, delete, list. Writes are atomic (temporary file, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def check_bucket(bucket: str) -> None:
        ok = 3 <= len(bucket) <= 63 and bucket[0].isalnum() and bucket[-1].isalnum()
        if not ok or any(not (c.islower() or c.isdigit() or c in ".-") for c in bucket):
            raise S3Error(400, "InvalidBucketName", f"{bucket!r} is not a valid bucket name", bucket)

    def object_path(self, bucket: str, key: str) -> Path:
        """The file holding `key`; keys that cannot be files here (empty, '.', '..' parts) are refused."""
        self.check_bucket(bucket)
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts) or len(key.encode()) > 1024:
            raise S3Error(400, "InvalidArgument", f"the key {key!r} cannot be stored locally", key)
        return self.root / bucket / Path(*parts)

    def _meta_path(self, bucket: str, key: str) -> Path:
        return self.root / ".meta" / bucket / f"{key}.json"

    def create_bucket(self, bucket: str) -> None:
        self.check_bucket(bucket)
        (self.root / bucket).mkdir(parents=True, exist_ok=True)

    def _require_bucket(self, bucket: str) -> None:
        self.check_bucket(bucket)
        if not (self.root / bucket).is_dir():
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist", bucket)

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "binary/octet-stream"
    ) -> ObjectInfo:
        self._require_bucket(bucket)
        path = self.object_path(bucket, key)
        if path.is_dir():
            raise S3Error(400, "InvalidArgument", f"{key!r} is a prefix of other keys here", key)
        etag = hashlib.md5(data).hexdigest()
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        tmp.write_bytes(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(path)
        meta = self._meta_path(bucket, key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta_tmp = tmp_dir / uuid.uuid4().hex
        meta_tmp.write_text(json.dumps({"etag": etag, "content_type": content_type}))
        meta_tmp.replace(meta)
        return ObjectInfo(len(data), etag, content_type, path.stat().st_mtime)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        self._require_bucket(bucket)
        path = self.object_path(bucket, key)
        if not path.is_file():
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", key)
        try:
            meta = json.loads(self._meta_path(bucket, key).read_text())
        except (OSError, ValueError):
            meta = {"etag": hashlib.md5(path.read_bytes()).hexdigest(), "content_type": "binary/octet-stream"}
        stat = path.stat()
        return ObjectInfo(stat.st_size, str(meta["etag"]), str(meta["content_type"]), stat.st_mtime)

    def get(self, bucket: str, key: str) -> tuple[bytes, ObjectInfo]:
        info = self.head(bucket, key)
        return self.object_path(bucket, key).read_bytes(), info

    def delete(self, bucket: str, key: str) -> None:
        self._require_bucket(bucket)
        self.object_path(bucket, key).unlink(missing_ok=True)
        self._meta_path(bucket, key).unlink(missing_ok=True)

    def list(
        self, bucket: str, prefix: str = "", max_keys: int = MAX_LIST_KEYS
    ) -> list[tuple[str, ObjectInfo]]:
        self._require_bucket(bucket)
        base = self.root / bucket
        keys = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return [(key, self.head(bucket, key)) for key in keys if key.startswith(prefix)][:max_keys]


def _http_date(at: float) -> str:
    return formatdate(at, usegmt=True)


def _error_xml(error: S3Error, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>"
        f"<Resource>{escape(error.resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        return bucket, key, parse_qs(parts.query, keep_blank_values=True)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        headers = {"Content-Length": str(len(body)), **(headers or {})}  # HEAD: the object's length
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _fail(self, error: S3Error) -> None:
        body = _error_xml(error, uuid.uuid4().hex[:16].upper())
        self._send(error.status, body if self.command != "HEAD" else b"", {"Content-Type": "application/xml"})

    def _dispatch(self) -> None:
        store = self.server.store
        try:
            bucket, key, query = self._target()
            if self.command == "PUT" and key:
                data = self._body()
                info = store.put(bucket, key, data, self.headers.get("Content-Type", "binary/octet-stream"))
                self._send(200, headers={"ETag": f'"{info.etag}"'})
            elif self.command in ("GET", "HEAD") and key:
                data, info = store.get(bucket, key)
                self._send(
                    200,
                    data,
                    {
                        "ETag": f'"{info.etag}"',
                        "Content-Type": info.content_type,
                        "Last-Modified": _http_date(info.modified),
                        "Accept-Ranges": "bytes",
                        "Content-Length": str(info.size),
                    },
                )
            elif self.command == "DELETE" and key:
                store.delete(bucket, key)
                self._send(204)
            elif self.command == "GET" and bucket and query.get("list-type") == ["2"]:
                self._send(200, self._list_xml(bucket, query), {"Content-Type": "application/xml"})
            else:
                raise S3Error(501, "NotImplemented", f"{self.command} {self.path} is not served locally")
        except S3Error as error:
            self._fail(error)

    def _body(self) -> bytes:
        if "aws-chunked" in self.headers.get("Content-Encoding", ""):
            raise S3Error(501, "NotImplemented", "aws-chunked uploads are not served locally")
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        crc = self.headers.get("x-amz-checksum-crc32")
        if crc is not None and base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode() != crc:
            raise S3Error(400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.")
        return data

    def _list_xml(self, bucket: str, query: dict[str, list[str]]) -> bytes:
        prefix = query.get("prefix", [""])[0]
        max_keys = min(int(query.get("max-keys", [str(MAX_LIST_KEYS)])[0]), MAX_LIST_KEYS)
        found = self.server.store.list(bucket, prefix, max_keys)
        contents = "".join(
            f"<Contents><Key>{escape(key)}</Key><LastModified>"
            f"{datetime.fromtimestamp(info.modified, UTC):%Y-%m-%dT%H:%M:%S.000Z}</LastModified>"
            f"<ETag>&quot;{info.etag}&quot;</ETag><Size>{info.size}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for key, info in found
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(found)}</KeyCount>"
            f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
        ).encode()

    do_GET = do_PUT = do_HEAD = do_DELETE = _dispatch


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: LocalObjectStore) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = store


class LocalS3Server:
    """The endpoint serving one state folder's objects; `endpoint` is its http://127.0.0.1:<port> URL."""

    def __init__(self, store: LocalObjectStore) -> None:
        try:
            self._server = _Server(store)
        except OSError as exc:
            raise TargetError(
                f"cannot start the local S3 endpoint: {exc}", "check that localhost works"
            ) from exc
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5}, name="local-s3", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)


_SERVERS: dict[Path, LocalS3Server] = {}
_SERVERS_LOCK = threading.Lock()


def shared_server(root: Path) -> LocalS3Server:
    """This process's endpoint for the objects under `root`, started on first use."""
    with _SERVERS_LOCK:
        server = _SERVERS.get(root)
        if server is None:
            server = _SERVERS[root] = LocalS3Server(LocalObjectStore(root))
        return server


def stored_object(store: LocalObjectStore, bucket: str, key: str, data: bytes) -> StoredObject:
    """Put `data` (creating the bucket) and describe it for an S3 event."""
    store.create_bucket(bucket)
    try:
        info = store.put(bucket, key, data, "application/json")
    except S3Error as exc:
        raise TargetError(f"cannot store s3://{bucket}/{key}: {exc.message}", "use a simpler key") from exc
    return StoredObject(bucket, key, info.size, info.etag, str(store.object_path(bucket, key)))
