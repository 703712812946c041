"""Provenance for certificates: Ed25519 signatures (the ``cryptography`` library).

A certificate says *what* holds for a file; anyone can write one, so it says nothing about
*who* certified it. A team that needs to know signs at export time
(``neurarust export ... --certify --sign key.pem``) and requires the signature at check time
(``neurarust verify net.onnx --trust pub.pem``).

**What is signed** (:func:`signed_bytes`): the domain tag :data:`SIGNED_TAG`, the
certificate's canonical JSON (sorted keys, no spaces, ASCII; the form that is stored) and the
SHA-256 of the model's graph and weights (:func:`~neurarust.verify.certificate.model_hash`)
computed from the file at check time, each followed by a newline. Changing any certificate
field, node or weight byte breaks the signature; so does moving a signed certificate onto
another model. The signature record is stored next to the certificate, under the
``metadata_props`` key :data:`SIGNATURE_KEY`, as JSON ``{"algorithm": "ed25519",
"public_key": base64 of the 32 raw bytes, "signature": base64 of the 64 bytes}``.

Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public), as ``neurarust keygen``
writes them and as ``openssl genpkey -algorithm ed25519 -out key.pem`` and ``openssl pkey
-in key.pem -pubout -out key.pub.pem`` do. Encrypted private keys are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from .certificate_schema import CertificateError, canonical_json, parse_json

__all__ = ["SIGNATURE_KEY", "SIGNED_TAG", "Signature", "SignatureError", "fingerprint",
           "keygen", "load_private_key", "load_public_key", "read_signature", "sign",
           "signed_bytes", "verify_signature"]

SIGNATURE_KEY = "neurarust.certificate.signature"
SIGNED_TAG = b"neurarust certificate signature v1"
MAX_KEY_FILE = 64 * 1024


class SignatureError(CertificateError):
    """A signature is missing, malformed or does not verify, or a key file is unusable."""


@dataclass(frozen=True)
class Signature:
    """A signature record: the signer's raw Ed25519 public key and the signature."""

    public_key: bytes
    signature: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def to_json(self) -> str:
        return canonical_json({"algorithm": "ed25519",
                               "public_key": base64.b64encode(self.public_key).decode(),
                               "signature": base64.b64encode(self.signature).decode()})


def fingerprint(raw_public_key: bytes) -> str:
    """``SHA256:`` and the first 32 hex digits of the SHA-256 of the raw public key."""
    return "SHA256:" + hashlib.sha256(raw_public_key).hexdigest()[:32]


def signed_bytes(certificate_json: str, model_sha256: str) -> bytes:
    """The bytes a signature covers; see the module docstring."""
    return b"\n".join([SIGNED_TAG, certificate_json.encode("ascii"),
                       model_sha256.encode("ascii"), b""])


def _read_key_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except OSError as err:
        raise SignatureError(f"cannot read {what} {path}: {err.strerror or err}") from None
    if len(data) > MAX_KEY_FILE:
        raise SignatureError(f"{what} {path}: larger than {MAX_KEY_FILE} bytes, not a key")
    return data


def load_private_key(path: str) -> Any:
    """An Ed25519 private key from a PEM file; :class:`SignatureError` naming the file."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SignatureError(f"signing key {path}: encrypted private keys are not supported; "
                             f"write one with `neurarust keygen`") from None
    except (ValueError, UnsupportedAlgorithm) as err:
        raise SignatureError(f"signing key {path}: not a PEM private key "
                             f"({type(err).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"signing key {path}: a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(path: str) -> bytes:
    """The raw 32 bytes of an Ed25519 public key from a PEM file (a private key file is
    refused: trust is given to public keys)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read_key_file(path, "trusted key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise SignatureError(f"trusted key {path}: not a PEM public key "
                             f"({type(err).__name__}); give the .pub.pem file") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"trusted key {path}: a {type(key).__name__}, not an Ed25519 key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(certificate_json: str, model_sha256: str, key_path: str) -> Signature:
    """Sign a certificate (its canonical JSON) for the model with this hash."""
    from cryptography.hazmat.primitives import serialization

    key = load_private_key(key_path)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return Signature(raw, key.sign(signed_bytes(certificate_json, model_sha256)))


def read_signature(text: str) -> Signature:
    """Parse a stored signature record; :class:`SignatureError` naming the bad field."""
    d = parse_json(text, "certificate signature", max_chars=4096)
    if not isinstance(d, dict) or set(d) != {"algorithm", "public_key", "signature"}:
        raise SignatureError("certificate signature: expected exactly the fields algorithm, "
                             "public_key, signature")
    if d["algorithm"] != "ed25519":
        raise SignatureError(f"certificate signature field algorithm: "
                             f"{str(d['algorithm'])[:30]!r} is not 'ed25519'")
    out: dict[str, bytes] = {}
    for name, size in (("public_key", 32), ("signature", 64)):
        value = d[name]
        if not isinstance(value, str):
            raise SignatureError(f"certificate signature field {name}: not a string")
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise SignatureError(f"certificate signature field {name}: not base64") from None
        if len(raw) != size:
            raise SignatureError(f"certificate signature field {name}: {len(raw)} bytes, "
                                 f"expected {size}")
        out[name] = raw
    return Signature(out["public_key"], out["signature"])


def verify_signature(sig: Signature, certificate_json: str, model_sha256: str) -> bool:
    """True when ``sig`` is a valid Ed25519 signature by its own public key over this
    certificate and model hash."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(sig.public_key)
        key.verify(sig.signature, signed_bytes(certificate_json, model_sha256))
    except (InvalidSignature, ValueError):
        return False
    return True


def keygen(path: str) -> tuple[str, str]:
    """Write a new Ed25519 private key to ``path`` (mode 0600) and its public key next to
    it (``key.pem`` -> ``key.pub.pem``), each atomically; refuses to overwrite. Returns the
    two paths."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .._atomic import atomic_write

    root, ext = os.path.splitext(path)
    pub_path = f"{root}.pub{ext or '.pem'}"
    for p in (path, pub_path):
        if os.path.exists(p):
            raise SignatureError(f"{p} exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    umask = os.umask(0)
    os.umask(umask)

    def writer(data: bytes, mode: int) -> Any:
        def write(f: Any) -> None:
            os.fchmod(f.fileno(), mode)
            f.write(data)
        return write

    try:
        atomic_write(path, writer(private, 0o600))
        atomic_write(pub_path, writer(public, 0o644 & ~umask))
    except OSError as err:
        raise SignatureError(f"cannot write key {path}: {err.strerror or err}") from None
    return path, pub_path
