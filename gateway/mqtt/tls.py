"""TLS settings for every client of ours (the bridge, the probe, the consumer)."""

from __future__ import annotations

from pathlib import Path

import aiomqtt


def tls_parameters(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None, *,
    force: bool = False,
) -> aiomqtt.TLSParameters | None:  # fmt: skip
    """TLS when a CA or a client certificate is configured (or ``force``: system CAs)."""
    if not (ca_file or cert_file or force):
        return None
    return aiomqtt.TLSParameters(
        ca_certs=str(ca_file) if ca_file else None,
        certfile=str(cert_file) if cert_file else None,
        keyfile=str(key_file) if key_file else None,
    )
