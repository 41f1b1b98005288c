"""A certificate for the web tier on the restaurant's LAN, when nobody gave one.

Two certificates, as a small private CA does it: a local CA (``ca.crt``, its key
readable by root alone) and the server's (``robodine.crt``) for the box's names and
addresses, signed by that CA. A tablet trusts ``ca.crt`` once (docs/operations.md
says how); a new server certificate (the box got another address) needs nothing
more on the tablets. The server certificate lives 825 days, the longest Apple's
devices accept; the CA ten years. ECDSA P-256: every tablet browser speaks it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_DAYS = 825
CA_DAYS = 3650


@dataclass(frozen=True)
class Pem:
    ca_cert: bytes
    ca_key: bytes
    cert: bytes  # the server's, then the CA's: the chain web.tls_cert names
    key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make(
    names: list[str],
    addresses: list[str],
    *,
    ca: tuple[bytes, bytes] | None = None,
    now: dt.datetime | None = None,
) -> Pem:
    """A server certificate for ``names`` (DNS) and ``addresses`` (IP), signed by ``ca``
    (its PEM certificate and key: the tablets already trust it) or by a new CA."""
    now = now or dt.datetime.now(dt.UTC)
    box = names[0] if names else "robodine"
    key = _key()
    if ca is not None:
        ca_cert = x509.load_pem_x509_certificate(ca[0])
        loaded = serialization.load_pem_private_key(ca[1], password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key is not an EC key")
        ca_key = loaded
    else:
        ca_key = _key()
        ca_cert = _ca(ca_key, box, now)
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(names)]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, box)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    return Pem(
        ca_cert=ca_pem,
        ca_key=_pem_key(ca_key),
        cert=server.public_bytes(serialization.Encoding.PEM) + ca_pem,
        key=_pem_key(key),
    )


def _ca(ca_key: ec.EllipticCurvePrivateKey, box: str, now: dt.datetime) -> x509.Certificate:
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Robodine"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Robodine local CA ({box})"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
