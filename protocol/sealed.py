"""Clinical bodies sealed to the practice's ingest key (NaCl sealed box).

A sealed box (libsodium ``crypto_box_seal``: an ephemeral X25519 key, then
XSalsa20-Poly1305) can be opened only with the ingest private key, which only
the practice side holds. The broker, and anyone who takes a device's SD card,
sees ciphertext. The box authenticates its contents, so a changed byte is
caught when it is opened.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.public

from healthhub.protocol.errors import SealError

KEY_BYTES = 32


class Sealer:
    """Seals to one public key; cheap to keep for the life of a process."""

    def __init__(self, ingest_public_key: bytes) -> None:
        if len(ingest_public_key) != KEY_BYTES:
            raise SealError("the ingest public key must be 32 bytes")
        self._box = nacl.public.SealedBox(nacl.public.PublicKey(ingest_public_key))

    def seal(self, plaintext: bytes) -> bytes:
        return bytes(self._box.encrypt(plaintext))


class Opener:
    """Opens boxes sealed to the ingest key; lives only on the practice side."""

    def __init__(self, ingest_private_key: bytes) -> None:
        if len(ingest_private_key) != KEY_BYTES:
            raise SealError("the ingest private key must be 32 bytes")
        private = nacl.public.PrivateKey(ingest_private_key)
        self._box = nacl.public.SealedBox(private)
        self.public_key = bytes(private.public_key)

    def open(self, ciphertext: bytes) -> bytes:
        try:
            return bytes(self._box.decrypt(ciphertext))
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise SealError(f"sealed body cannot be opened: {exc}") from None


def generate_keypair() -> tuple[bytes, bytes]:
    """A new ``(private, public)`` X25519 key pair as raw bytes."""
    private = nacl.public.PrivateKey.generate()
    return bytes(private), bytes(private.public_key)
