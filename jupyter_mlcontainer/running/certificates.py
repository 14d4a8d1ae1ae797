"""The certificates of deployments that serve HTTPS (`deploy --tls-cert`), remembered by URL.

A front's certificate is often the user's own, self-signed, and names a host rather than the
address the tool reaches the front on. This package's clients (`inst`, the test panel, the
sidebar's requests) verify the front against exactly the certificate it was deployed with,
rather than against the system's authorities and a host name.
"""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

from ..shared.config import cache_dir
from .tokens import url_key


def _path(url: str) -> Path:
    return cache_dir("certificates", f"{url_key(url)}.pem")


def remember_certificate(url: str, certificate: str) -> None:
    """The front at `url` serves the certificate in the file `certificate` (public: a copy)."""
    path = _path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(certificate, path)


def context_for(url: str) -> ssl.SSLContext | None:
    """A TLS context trusting the certificate remembered for `url`; None for the system's."""
    path = _path(url)
    if not url.startswith("https:") or not path.is_file():
        return None
    context = ssl.create_default_context(cafile=str(path))
    context.check_hostname = False  # pinned to this very certificate instead
    return context


def forget_certificate(url: str) -> None:
    _path(url).unlink(missing_ok=True)
