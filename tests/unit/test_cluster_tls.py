"""cluster_tls: every host derives the same TLS authority from the job's secret, and only it is accepted."""

from __future__ import annotations

import logging
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from cryptography import x509  # noqa: E402 - after the skip
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from ensemble_byoc.errors import PlatformError  # noqa: E402
from ensemble_byoc.training.multihost.layout import HostLayout  # noqa: E402
from ensemble_byoc.training.multihost.tls import cluster_security, derive_credentials, write_credentials  # noqa: E402

SECRET = "n3Vd6mXq0C0kS2Z5r8pW1uJ7yT4eH9aB-Lf_Qo6iEs0"
RESOURCES = {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}


def public_key(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_key().public_bytes(Encoding.DER,
                                                                         PublicFormat.SubjectPublicKeyInfo)


def handshake(server_secret: str, client_secret: str | None, tmp_path: Path) -> str:
    """A TLS handshake between a host of ``server_secret`` and a client of ``client_secret`` (none: a
    client without a certificate), each from its own derivation; ``"ok"`` or the server's error."""
    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    server = write_credentials(derive_credentials(server_secret), server_dir)
    listen = server.get_listen_args("scheduler")["ssl_context"]
    if client_secret is None:
        connect = ssl.create_default_context()
        connect.check_hostname, connect.verify_mode = False, ssl.CERT_NONE
    else:
        connect = write_credentials(derive_credentials(client_secret), client_dir).get_connection_args(
            "client")["ssl_context"]
    outcome: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with listen.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
                    outcome.append("ok")
            except (ssl.SSLError, OSError) as exc:
                outcome.append(type(exc).__name__)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
                    connect.wrap_socket(raw) as tls:
                tls.recv(5)
        except (ssl.SSLError, OSError):
            pass
        thread.join(timeout=10)
    return outcome[0]


def test_two_hosts_derive_the_same_authority_and_host_key_from_one_secret_and_others_from_another() -> None:
    first, second, other = derive_credentials(SECRET), derive_credentials(SECRET), derive_credentials(
        SECRET + "x")
    assert public_key(first.ca_certificate) == public_key(second.ca_certificate)
    assert public_key(first.certificate) == public_key(second.certificate)
    assert first.key == second.key
    assert public_key(other.ca_certificate) != public_key(first.ca_certificate)
    assert SECRET not in repr(first)


@pytest.mark.parametrize(("client_secret", "expected"), [(SECRET, "ok"), (SECRET[:-1] + "1", "SSLError"),
                                                         (None, "SSLError")],
                         ids=["same-secret", "another-secret", "no-certificate"])
def test_a_host_accepts_a_tls_peer_of_the_same_secret_only(tmp_path: Path, client_secret: str | None,
                                                          expected: str) -> None:
    assert handshake(SECRET, client_secret, tmp_path) == expected


def test_the_credential_files_are_private_to_this_user_and_removed_when_the_job_ends() -> None:
    with cluster_security(SECRET, "algo-1") as security:
        assert security is not None and security.require_encryption
        folder = Path(security.tls_ca_file).parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for name in ("ca.pem", "host.pem", "host-key.pem"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert not folder.exists()


def test_without_a_secret_the_cluster_runs_unauthenticated_and_says_so_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING), cluster_security(None, "algo-2") as security:
        assert security is None
    assert "Host algo-2: ENSEMBLE_BYOC_CLUSTER_SECRET is not set" in caplog.text
    assert "accept any client that reaches their ports" in caplog.text


def test_the_layout_carries_the_secret_from_the_environment_and_never_shows_it() -> None:
    layout = HostLayout.from_resource_config(RESOURCES, {"ENSEMBLE_BYOC_CLUSTER_SECRET": f" {SECRET}\n"})
    assert layout is not None and layout.cluster_secret == SECRET
    assert SECRET not in repr(layout)
    unset = HostLayout.from_resource_config(RESOURCES, {"ENSEMBLE_BYOC_CLUSTER_SECRET": ""})
    assert unset is not None and unset.cluster_secret is None


def test_a_secret_too_short_to_be_one_fails_the_job_without_echoing_it() -> None:
    with pytest.raises(PlatformError, match="ENSEMBLE_BYOC_CLUSTER_SECRET holds 6 characters; it must hold "
                                            "at least 16") as raised:
        HostLayout.from_resource_config(RESOURCES, {"ENSEMBLE_BYOC_CLUSTER_SECRET": "abc123"})
    assert "abc123" not in str(raised.value)
