"""The certificates of deployments that serve HTTPS (`deploy --tls-cert`), remembered by URL.

A front's certificate is often the user's own, self-signed, or names a host rather than the
address the tool reaches the front on. This package's clients (`inst`, the test panel, the
sidebar's requests) therefore pin the front to exactly the certificate it was deployed with:
the SHA-256 of its leaf, compared after the handshake, not a chain checked against the system's
authorities and a host name. A URL with no remembered certificate is checked the usual way.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import ssl
from pathlib import Path

from ..shared.config import cache_dir
from .tokens import url_key

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _path(url: str) -> Path:
    return cache_dir("certificates", f"{url_key(url)}.sha256")


def fingerprint(certificate: str) -> str:
    """SHA-256 of the first (the leaf) certificate in the PEM file `certificate`."""
    found = _PEM.search(Path(certificate).read_text(encoding="ascii", errors="replace"))
    if found is None:
        raise ValueError(f"{certificate} holds no PEM certificate")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(found[0])).hexdigest()


def remember_certificate(url: str, certificate: str) -> None:
    """The front at `url` serves the certificate in the file `certificate`."""
    path = _path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fingerprint(certificate), encoding="ascii")


def forget_certificate(url: str) -> None:
    _path(url).unlink(missing_ok=True)


class PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to a server that must present the certificate whose leaf has `expected`'s hash."""

    def __init__(self, host: str, port: int | None, expected: str, timeout: float):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the leaf's hash is checked instead, below
        super().__init__(host, port, timeout=timeout, context=context)
        self.expected = expected

    def connect(self):
        super().connect()
        presented = hashlib.sha256(self.sock.getpeercert(binary_form=True) or b"").hexdigest()
        if presented != self.expected:
            self.close()
            raise ssl.SSLCertVerificationError(
                f"{self.host}:{self.port} presents another certificate than the one it was "
                "deployed with"
            )


def https_connection(url: str, host: str, port: int | None, timeout: float):
    """A connection pinned to the certificate remembered for `url`, else one that checks the
    server's chain and name against the system's authorities."""
    path = _path(url)
    if path.is_file():
        return PinnedConnection(host, port, path.read_text(encoding="ascii").strip(), timeout)
    return http.client.HTTPSConnection(host, port, timeout=timeout)
