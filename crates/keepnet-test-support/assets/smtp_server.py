#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd, Debian's python3-aiosmtpd).

Every accepted message is saved as DIR/msg-N.eml (the bytes exactly as received) with
DIR/msg-N.json beside it: {"mail_from", "rcpt_tos", "tls", "auth"}. Listens on a port the
system picks, bound here and never released (no other process can take it between choosing
and binding); prints "READY <port>" on stdout once listening, then serves until killed.

Options:
  --dir DIR           where messages are saved
  --starttls C K      offer STARTTLS with this certificate and key (PEM)
  --implicit-tls C K  speak TLS from the first byte (SMTPS) with this certificate and key
  --auth USER:PASS    require AUTH (PLAIN/LOGIN), only over TLS
  --refuse ADDR       answer 550 to RCPT TO:<ADDR> (repeatable)
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir, refuse):
        self.outdir = outdir
        self.refuse = {a.lower() for a in refuse}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 <%s>: recipient address rejected" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.outdir, "msg-%d" % n)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        with open(base + ".json", "w") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    # session.ssl is only set after STARTTLS; implicit TLS shows on the transport.
                    "tls": server.transport.get_extra_info("ssl_object") is not None,
                    "auth": bool(session.authenticated),
                },
                f,
            )
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


class BoundController(Controller):
    """A Controller serving a socket bound here to 127.0.0.1 port 0: the system picks the port
    and the socket keeps it (Controller itself binds host:port by number)."""

    def __init__(self, handler, **kwargs):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--implicit-tls", nargs=2)
    p.add_argument("--auth")
    p.add_argument("--refuse", action="append", default=[])
    args = p.parse_args()

    kwargs = {}
    if args.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*args.starttls)
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = True
    if args.implicit_tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*args.implicit_tls)
        kwargs["ssl_context"] = ctx
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            # handled=False lets aiosmtpd answer 535 itself on failure.
            return AuthResult(success=ok, handled=False)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = True

    controller = BoundController(
        Handler(args.dir, args.refuse),
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    print("READY %d" % controller.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())
