"""TLS for a multi-host job's Dask cluster, from the job's secret (``ENSEMBLE_BYOC_CLUSTER_SECRET``).

SageMaker gives the hosts of a job nothing secret, so the launcher makes a secret per job and passes it in
the job's environment. Every host derives the same certificate authority and the same host certificate
from it (their keys come from the secret through HKDF), so each host's scheduler, worker and client
accept exactly the peers that hold the secret: a TLS connection from anyone else fails its handshake
before Dask reads a message. Without the secret the cluster speaks plain TCP and every host says so in
its log with a warning.

Imported only by a multi-host job (it imports ``distributed``, and ``cryptography``, which Dask's TLS
needs anyway).
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from distributed.security import Security

from ensemble_byoc.training.multihost.layout import CLUSTER_SECRET_VARIABLE

logger = logging.getLogger(__name__)

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SALT = b"ensemble-byoc dask cluster tls v1"
_VALID_FROM = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
_VALID_UNTIL = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ensemble-byoc cluster CA")])
_HOST_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ensemble-byoc cluster host")])


@dataclass(frozen=True)
class Credentials:
    """PEM texts: the job's certificate authority, and the certificate and key every host presents."""

    ca_certificate: bytes
    certificate: bytes
    key: bytes

    def __repr__(self) -> str:
        return "Credentials(<derived from the job's secret>)"


def _derived_key(secret: str, purpose: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key that is a function of ``secret`` and ``purpose`` alone (the same on every host)."""
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=_SALT, info=purpose.encode()).derive(
        secret.encode())
    return ec.derive_private_key(int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def _certificate(subject: x509.Name, key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey,
                 serial: int, is_ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_CA_NAME)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_VALID_FROM)
        .not_valid_after(_VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .add_extension(x509.KeyUsage(digital_signature=not is_ca, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=is_ca, crl_sign=is_ca, encipher_only=False,
                                     decipher_only=False), critical=True)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def derive_credentials(secret: str) -> Credentials:
    """The job's certificate authority and host certificate, derived from ``secret``.

    The keys are the same on every host; the signatures are not byte for byte (ECDSA signs with a random
    nonce), which does not matter: a certificate is checked against the authority's key and name.
    """
    ca_key = _derived_key(secret, "certificate authority")
    host_key = _derived_key(secret, "host")
    pem = serialization.Encoding.PEM
    return Credentials(
        ca_certificate=_certificate(_CA_NAME, ca_key, ca_key, 1, is_ca=True).public_bytes(pem),
        certificate=_certificate(_HOST_NAME, host_key, ca_key, 2, is_ca=False).public_bytes(pem),
        key=host_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def write_credentials(credentials: Credentials, directory: Path) -> Security:
    """Write ``credentials`` into ``directory`` (files readable by this user only) and return the Dask
    ``Security`` that requires them of every connection, in every role."""
    ca, certificate, key = directory / "ca.pem", directory / "host.pem", directory / "host-key.pem"
    _write_private(ca, credentials.ca_certificate)
    _write_private(certificate, credentials.certificate)
    _write_private(key, credentials.key)
    files = {f"tls_{role}_{kind}": str(path) for role in ("client", "scheduler", "worker")
             for kind, path in (("cert", certificate), ("key", key))}
    return Security(require_encryption=True, tls_ca_file=str(ca), **files)


@contextmanager
def cluster_security(secret: str | None, current_host: str) -> Iterator[Security | None]:
    """The Dask ``Security`` of this host for the job (``None``, with a warning, without a secret); its
    files live in a private temporary folder that is removed on exit."""
    if not secret:
        logger.warning(
            "Host %s: %s is not set, so this job's Dask cluster is not authenticated: its scheduler and "
            "workers accept any client that reaches their ports (from within the job's network) and run "
            "the code it sends, with the job's IAM role. The launcher sets a secret for every job with "
            "more than one instance; see README, Multi-instance training.", current_host,
            CLUSTER_SECRET_VARIABLE)
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="ensemble-byoc-tls-"))  # mode 0700
    try:
        yield write_credentials(derive_credentials(secret), directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
