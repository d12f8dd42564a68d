"""Downloads, for datasets and zoo archives alike: https only, also as the target of a redirect (refused
before it is followed); plain http only to 127.0.0.1, where tests serve; at most a given number of bytes;
and the whole Content-Length the server announced, or the transfer broke off.
"""

from __future__ import annotations

import hashlib
from http.client import HTTPException
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, build_opener

from .errors import DataError

LOOPBACK = "127.0.0.1"  # the one host plain http may reach: a name such as 'localhost' could resolve anywhere
CHUNK = 1 << 20


class TransferError(DataError):
    """The server could not be reached, or the transfer broke off: another mirror may do."""


def check_https(url: str) -> None:
    """A DataError unless `url` is https (or plain http to 127.0.0.1)."""
    try:
        parts = urlsplit(url)
        allowed = parts.scheme.lower() == "https" or (parts.scheme.lower() == "http" and parts.hostname == LOOPBACK)
    except ValueError:  # a malformed port or host
        allowed = False
    if not allowed:
        raise DataError(f"refusing '{url}': only https URLs are downloaded",
                        hint="http, file:, ftp: and other schemes are not accepted")


class HttpsOnlyRedirects(HTTPRedirectHandler):
    """Follows a redirect only to another https URL, refusing before any request is made to it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # urllib's signature
        check_https(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_url(url: str, timeout: float) -> BinaryIO:
    """Open an https URL, following redirects to https only (tests replace this function)."""
    return build_opener(HttpsOnlyRedirects()).open(url, timeout=timeout)


def download(url: str, handle: BinaryIO, *, max_bytes: int) -> str:
    """Stream `url` into `handle` and return its sha256. A DataError when it is over `max_bytes` (not the
    published file), a TransferError when it cannot be reached or ends short of its Content-Length."""
    check_https(url)
    try:
        with open_url(url, timeout=60) as response:
            check_https(response.geturl())
            digest, total = copy_capped(response, handle, max_bytes=max_bytes, source=url)
            announced = response.headers.get("Content-Length")
    except (HTTPException, OSError) as exc:  # urllib's URLError and HTTPError are OSErrors
        raise TransferError(f"could not download {url}: {getattr(exc, 'reason', None) or exc}") from None
    if announced is not None and announced.isdigit() and total != int(announced):
        raise TransferError(f"could not download {url}: the transfer broke off after {total:,} of "
                            f"{int(announced):,} bytes")
    return digest


def copy_capped(src: BinaryIO, handle: BinaryIO, *, max_bytes: int, source: str) -> tuple[str, int]:
    """Copy `src` into `handle`, refusing more than `max_bytes` (a DataError: not the published file);
    returns (sha256, bytes copied)."""
    digest, total = hashlib.sha256(), 0
    for chunk in iter(lambda: src.read(CHUNK), b""):
        total += len(chunk)
        if total > max_bytes:
            raise DataError(f"{source} is over {max_bytes:,} bytes: not the published file", hint="nothing was kept")
        digest.update(chunk)
        handle.write(chunk)
    return digest.hexdigest(), total
