"""The local broker's TLS listener, which behaves as IoT Core's token endpoint does.

AWS IoT developer guide: a device using custom authentication over MQTT "must connect on port
443", pass the ALPN extension with the value `mqtt` and SNI naming the endpoint
(custom-auth.html); the domain configuration is chosen by SNI, which must be identical to its
domain name (iot-custom-endpoints-configurable.html); TLS 1.2 or newer (protocols.html). So
here a handshake without SNI naming the local domain fails with an `unrecognized_name` alert,
and a connection that did not agree on ALPN `mqtt` is closed before a byte of MQTT is read.

The certificate comes from a local CA made once in the state directory (`tls/`): clients and
the gateway verify against `tls/ca.pem`. Private keys are written 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mqtt_actions_cli.local.output import log

LOCAL_DOMAIN: Final = "iot.mqtt-actions.localhost"
ALPN: Final = "mqtt"
TLS_DIR: Final = "tls"
CA_DAYS: Final = 3650
SERVER_DAYS: Final = 397  # what public CAs may issue at most
RENEW_BEFORE: Final = datetime.timedelta(days=30)
KEY_MODE: Final = 0o600


@dataclass(frozen=True)
class TlsFiles:
    """The local CA and the server certificate it signed (PEM files)."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """A private key, created 0600 (never readable by others, not even for a moment)."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mqtt-actions local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(files: TlsFiles, now: datetime.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("mqtt-actions local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(files.ca_key, key)
    files.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _server_current(files: TlsFiles, domain: str, now: datetime.datetime) -> bool:
    """The server certificate exists, names `domain`, was signed by this CA and is not near
    its end."""
    if not (files.cert.exists() and files.key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return False
    return (
        domain in names.get_values_for_type(x509.DNSName)
        and cert.not_valid_after_utc - RENEW_BEFORE > now
    )


def _make_server(files: TlsFiles, domain: str, now: datetime.datetime) -> None:
    ca_key = _load_key(files.ca_key)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(domain))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(domain), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_certificates(state_dir: Path, domain: str = LOCAL_DOMAIN) -> TlsFiles:
    """The local CA (made once, then kept) and a current server certificate for `domain`."""
    directory = state_dir / TLS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca.key",
        cert=directory / "server.pem",
        key=directory / "server.key",
    )
    now = datetime.datetime.now(datetime.UTC)
    if not (files.ca_cert.exists() and files.ca_key.exists()):
        _make_ca(files, now)
    if not _server_current(files, domain, now):
        _make_server(files, domain, now)
    return files


def server_context(files: TlsFiles, domain: str = LOCAL_DOMAIN) -> ssl.SSLContext:
    """TLS 1.2+, the local certificate, ALPN `mqtt` offered, and a handshake whose SNI does not
    name `domain` (or that has none) refused with an `unrecognized_name` alert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    context.set_alpn_protocols([ALPN])

    def check_name(_sock: Any, server_name: str | None, _ctx: ssl.SSLContext) -> int | None:
        if server_name is None or server_name.lower() != domain:
            named = f"SNI {server_name!r}" if server_name else "no SNI"
            log.warning("tls  refused: %s; the token endpoint answers only to %s", named, domain)
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        return None

    context.sni_callback = check_name
    return context


def refusal(ssl_object: ssl.SSLObject | None) -> str | None:
    """Why a finished handshake cannot carry MQTT with a token (None: it can). SNI was checked
    during the handshake (`server_context`)."""
    if ssl_object is None:
        return "not a TLS connection"
    if ssl_object.selected_alpn_protocol() != ALPN:
        return f"no ALPN {ALPN!r} (custom authentication over MQTT needs it, as on IoT Core)"
    return None
