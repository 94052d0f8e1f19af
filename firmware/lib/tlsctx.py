"""The broker's TLS context on the device (mbedTLS reads DER only; docs/tls.md).

    ctx = tlsctx.context({"host": ..., "ca": "ca.der", "cert": ..., "key": ..., "server_name": ...})

Its own module so a device without TLS never compiles it (docs/firmware.md, "Memory").
"""


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class _Named:
    # A TLS context that names the broker as server_name, whatever host asyncio dials (an IP
    # address the certificate does not carry, a proxy): the name mbedTLS checks and sends (SNI).
    def __init__(self, ctx, name):
        self._ctx = ctx
        self._name = name

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,
                    server_hostname=None):
        return self._ctx.wrap_socket(sock, do_handshake_on_connect=do_handshake_on_connect,
                                     server_hostname=self._name)


def context(b):
    """The TLS context of broker config b: the broker's certificate must chain to the CA in
    b["ca"] and name b["server_name"] (default b["host"]); with b["cert"] / b["key"] the device
    shows its client certificate."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=_read(b["ca"]))
    if b.get("cert"):
        ctx.load_cert_chain(_read(b["cert"]), _read(b["key"]))
    name = b.get("server_name")
    return _Named(ctx, name) if name and name != b["host"] else ctx
