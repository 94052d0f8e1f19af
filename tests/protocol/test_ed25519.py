from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import crypto, ed25519
from protocol.ossl import CryptographyBackend


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300))
def test_pure_python_agrees_with_openssl(seed, msg):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    sig = key.sign(msg)
    public = CryptographyBackend().public_key(seed)
    assert ed25519.public_key(seed) == public
    assert ed25519.sign(seed, msg) == sig
    assert ed25519.verify(public, msg, sig)
    assert CryptographyBackend().verify(public, msg, ed25519.sign(seed, msg))


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=1, max_size=64), st.integers(0, 511))
def test_any_flipped_bit_fails(seed, msg, bit):
    public = ed25519.public_key(seed)
    sig = bytearray(ed25519.sign(seed, msg))
    sig[bit // 8] ^= 1 << (bit % 8)
    assert not ed25519.verify(public, msg, bytes(sig))
    assert not CryptographyBackend().verify(public, msg, bytes(sig))


def test_garbage_keys_and_lengths_return_false():
    assert not ed25519.verify(b"\x00" * 31, b"m", b"\x00" * 64)
    assert not ed25519.verify(b"\xff" * 32, b"m", b"\x00" * 64)
    assert not ed25519.verify(ed25519.public_key(b"\x01" * 32), b"m", b"\x00" * 63)


def test_backend_hook_switches_and_restores():
    before = crypto.get_backend()
    try:
        crypto.set_backend(CryptographyBackend())
        seed = b"\x05" * 32
        assert crypto.sign(seed, b"x") == ed25519.sign(seed, b"x")
    finally:
        crypto.set_backend(before)


def test_the_window_table_is_1_to_4_times_the_point():
    # against i x B from the RFC's plain double-and-add, compared in affine coordinates
    p = ed25519.P

    def affine(q):
        x, y, z, _ = q
        zi = pow(z, p - 2, p)
        return x * zi % p, y * zi % p

    def slow_mul(k):
        q, b = ed25519.IDENTITY, ed25519.BASE
        while k:
            if k & 1:
                q = ed25519._addc(q, *ed25519._cached(b)[0])
            b = ed25519._double(b)
            k >>= 1
        return q

    for i, (yp, ym, z2, t2d) in enumerate(ed25519._cached(ed25519.BASE)):
        x, y = affine(slow_mul(i + 1))
        zi = pow(z2 * pow(2, p - 2, p) % p, p - 2, p)  # the entry's own Z, inverted
        assert (yp * zi % p, ym * zi % p) == ((y + x) % p, (y - x) % p)
        assert t2d * zi % p == 2 * ed25519.D * x * y % p
