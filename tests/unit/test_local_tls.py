"""The local TLS listener's certificates: a CA made once in the state directory, a server
certificate for the local domain signed by it, private keys readable by their owner only."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

from cryptography import x509

from mqtt_actions_cli.local.tls import LOCAL_DOMAIN, ensure_certificates, server_context


def test_the_ca_is_made_once_and_kept(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    ca = first.ca_cert.read_bytes()
    again = ensure_certificates(tmp_path)
    assert again.ca_cert.read_bytes() == ca
    assert first.ca_cert.parent == tmp_path / "tls"


def test_private_keys_are_0600(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    for key in (files.ca_key, files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_the_server_certificate_names_the_local_domain_and_chains_to_the_ca(
    tmp_path: Path,
) -> None:
    files = ensure_certificates(tmp_path)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert LOCAL_DOMAIN in names.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(ca)


def test_a_lost_server_certificate_is_made_again_by_the_same_ca(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    ca = files.ca_cert.read_bytes()
    files.cert.unlink()
    again = ensure_certificates(tmp_path)
    assert again.ca_cert.read_bytes() == ca
    x509.load_pem_x509_certificate(again.cert.read_bytes()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca)
    )


def test_the_context_is_tls_1_2_or_newer(tmp_path: Path) -> None:
    context = server_context(ensure_certificates(tmp_path))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.sni_callback is not None
