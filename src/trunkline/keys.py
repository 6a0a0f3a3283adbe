"""RSA key pairs for applications: what ``POST /v2/applications`` hands back (spec §6.1).

The private key is PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``), the only form the
Python SDK accepts; the public key is SubjectPublicKeyInfo PEM, as Vonage returns it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: RSA modulus size Vonage's keys have.
KEY_BITS = 2048


@dataclass(frozen=True)
class KeyPair:
    private_key: str  # PKCS#8 PEM
    public_key: str  # SubjectPublicKeyInfo PEM


def generate_key_pair(bits: int = KEY_BITS) -> KeyPair:
    """A fresh RSA key pair as PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private, public)


def is_public_key(pem: str) -> bool:
    """True when ``pem`` is an RSA public key in PEM form."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        return False
    return isinstance(key, rsa.RSAPublicKey)
