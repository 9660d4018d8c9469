#!/usr/bin/python3
"""smtp_sink.py — a real SMTP server (aiosmtpd) that stores what it receives, for Lumi's mail tests.

Run with Debian's /usr/bin/python3 and python3-aiosmtpd (scripts/setup.sh --test):

    smtp_sink.py --dir DIR [--port N] [--auth USER:PASS]
                 [--tls-cert CERT --tls-key KEY [--implicit-tls]]

Listens on 127.0.0.1 (port 0 picks a free one) and prints "PORT <n>" once
listening. --auth requires AUTH (PLAIN or LOGIN, offered without TLS) before
MAIL. --tls-cert/--tls-key offer STARTTLS, or with --implicit-tls speak TLS
from the first byte (smtps).

Each accepted message is stored as DIR/NNNNNN.eml (the bytes received, after
SMTP dot-unstuffing) and DIR/NNNNNN.json, both written to a temporary name and
renamed, the .json last. The JSON is what Python's own email package
(policy.default) reads in the message — an independent parser:
  mail_from, rcpt_tos, message_id, subject (decoded), date (as written),
  date_epoch, text / html (decoded parts, CRLF as "\\n"; null when absent),
  attachments [{filename, content_type, size}], headers {name: raw value,
  unfolded}, defects [every parser defect in any header or part], and of the
  session: peer ("127.0.0.1:port", one per connection) and tls (true/false).

Control files in DIR, read when the command arrives:
  reply     "<stage> <reply line>", stage one of auth, mail, rcpt, data: answer
            that line at that stage instead of proceeding (nothing is stored),
            e.g. "data 451 4.3.0 Try again later" or "rcpt 550 5.1.1 No such user".
  delay_ms  an integer: sleep that many milliseconds before answering DATA.

SIGTERM or SIGINT stops it (exit status 0). Exit status 3: aiosmtpd missing.
"""
import argparse
import asyncio
import email
import email.parser
import email.policy
import json
import logging
import os
import signal
import ssl
import sys
import warnings

try:
    from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword
except ImportError:
    print("smtp_sink.py: the Python package aiosmtpd is missing "
          "(Debian: python3-aiosmtpd; run scripts/setup.sh --test)", file=sys.stderr)
    sys.exit(3)


def unfold(value):
    return value.replace("\r\n", "").replace("\n", "")


def text_of(msg, subtype):
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != "text/" + subtype:
        return None
    return part.get_content().replace("\r\n", "\n")


def describe(raw, envelope):
    """What Python's email package makes of the message, as a JSON-able dict."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = []
    for part in msg.walk():
        defects += [f"{type(d).__name__}: {d}" for d in part.defects]
        for name, value in part.items():
            defects += [f"{name}: {type(d).__name__}: {d}" for d in getattr(value, "defects", ())]
    date = msg["date"]
    dt = getattr(date, "datetime", None) if date is not None else None
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "message_id": str(msg["message-id"]) if msg["message-id"] is not None else None,
        "subject": str(msg["subject"]) if msg["subject"] is not None else None,
        "date": str(date) if date is not None else None,
        "date_epoch": int(dt.timestamp()) if dt is not None else None,
        "text": text_of(msg, "plain"),
        "html": text_of(msg, "html"),
        "attachments": [
            {"filename": a.get_filename(), "content_type": a.get_content_type(),
             "size": len(a.get_payload(decode=True) or b"")}
            for a in msg.iter_attachments()
        ],
        "headers": {name: unfold(value) for name, value in msg.raw_items()},
        "defects": defects,
    }


def describe_light(raw, envelope):
    """Only the envelope and the Message-ID (headers parsed, bodies not): for benchmarks,
    where the full parse would be what is measured."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
            "message_id": headers.get("Message-ID", "").strip()}


class Sink:
    def __init__(self, directory, light=False):
        self.dir = directory
        self.count = 0
        self.describe = describe_light if light else describe

    def control(self, name):
        try:
            with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def fault(self, stage):
        stage_word, _, reply = (self.control("reply") or "").partition(" ")
        return reply.strip() if stage_word.lower() == stage and reply.strip() else None

    def store(self, name, data):
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.dir, name))

    async def handle_AUTH(self, server, session, envelope, args):
        return self.fault("auth") or MISSING

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.fault("mail")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.fault("rcpt")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        delay = self.control("delay_ms")
        if delay:
            await asyncio.sleep(int(delay) / 1000)
        reply = self.fault("data")
        if reply:
            return reply
        raw = envelope.original_content
        info = self.describe(raw, envelope)
        info["peer"] = "%s:%d" % tuple(session.peer[:2])
        info["tls"] = server.transport.get_extra_info("ssl_object") is not None
        self.count += 1
        base = f"{self.count:06d}"
        self.store(base + ".eml", raw)
        self.store(base + ".json", json.dumps(info, ensure_ascii=False, indent=1).encode())
        return f"250 2.0.0 Ok: queued as {base}"


def main():
    ap = argparse.ArgumentParser(description="SMTP sink for Lumi's mail tests")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--auth", help="USER:PASS required before MAIL")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--light", action="store_true",
                    help="store only envelope and Message-ID in the JSON (benchmarks)")
    args = ap.parse_args()
    # Failed handshakes and dropped clients are what some tests do on purpose; a
    # failing hook still shows, as a "500 Error: ..." reply the test reports.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    kwargs = {"hostname": "sink.test", "decode_data": False}
    if args.auth:
        user, _, password = args.auth.partition(":")
        expected = LoginPassword(user.encode(), password.encode())

        def authenticator(server, session, envelope, mechanism, data):
            return AuthResult(success=data == expected, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.check_hostname = False
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if not args.implicit_tls:
            kwargs["tls_context"] = tls
    asyncio.run(serve(Sink(args.dir, args.light), args.port, kwargs, tls if args.implicit_tls else None))


async def serve(sink, port, kwargs, implicit_tls):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, loop=loop, **kwargs),
                                      host="127.0.0.1", port=port, ssl=implicit_tls)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    main()
