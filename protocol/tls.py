"""The TLS client context every part uses to reach the practice broker (mTLS)."""

from __future__ import annotations

import ssl
from pathlib import Path

from healthhub.protocol.errors import KeyFileError


def client_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Verify the broker against the fleet CA and present this client's certificate.

    TLS 1.2 or newer, hostname checked. Missing or unreadable files raise
    :class:`KeyFileError` naming the file.
    """
    for path in (ca_file, cert_file, key_file):
        if not Path(path).is_file():
            raise KeyFileError(f"{path}: file not found")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    except (ssl.SSLError, OSError) as exc:
        raise KeyFileError(
            f"{cert_file}/{key_file}: cannot load client certificate ({exc})"
        ) from None
    return context
