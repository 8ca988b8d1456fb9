"""An SMTP server that stores what it receives, for the blog-task tests and scripts/demo.

    python blog_smtp_sink.py --port P --out FILE [--tls off|implicit|starttls]
        [--cert-dir DIR] [--user U --password PW] [--reject-once ADDR ...] [--echo]

Each accepted message becomes one JSON line in FILE: envelope sender and recipients, the
header block exactly as received, what Python's `email` parser (policy `default`, what a
mail client does) makes of it: decoded From/To/Subject, MIME-Version, content type and
charset, transfer encoding, Date, Message-ID, the decoded body and every defect it found;
and the AUTH login.
--tls implicit|starttls makes a CA and a certificate for "localhost" with trustme and writes
the CA to DIR/ca.pem (what the worker's MAIL_CA_FILE then trusts). --user/--password require
AUTH (LOGIN or PLAIN). --reject-once ADDR answers 451 (try again later) to the first RCPT TO
of ADDR, then accepts it. --echo prints each mail (recipient, subject, body) on stderr.
Prints "ready" on stdout once listening; runs until killed.
"""
import argparse
import email
import email.policy
import json
import logging
import os
import signal
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def _date(msg):
    """The Date header as an ISO time with offset, '' when absent or not a date."""
    d = msg['Date']
    when = getattr(d, 'datetime', None)
    return when.isoformat() if when is not None else ''


def _defects(msg):
    """Every defect the parser noted, in the message, its headers and its parts."""
    found = []
    for part in msg.walk():
        found += [type(d).__name__ for d in part.defects]
        for name, value in part.items():
            found += [f'{name}: {type(d).__name__}' for d in getattr(value, 'defects', ())]
    return found


class Sink:
    def __init__(self, out, reject_once, echo=False):
        self.out = out
        self.echo = echo
        self.lock = threading.Lock()
        self.reject_once = set(reject_once)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject_once:
            self.reject_once.discard(address)
            return '451 4.3.0 Temporary failure, try again later'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=('html', 'plain'))
        record = {
            'mail_from': envelope.mail_from,
            'rcpt_tos': list(envelope.rcpt_tos),
            'raw_headers': raw.split(b'\r\n\r\n', 1)[0].decode('utf-8', 'replace'),
            'from': str(msg['From']),
            'to': str(msg['To']),
            'subject': str(msg['Subject']),
            'mime_version': str(msg['MIME-Version']),
            'content_type': msg.get_content_type(),
            'charset': msg.get_content_charset(),
            'transfer_encoding': msg.get('Content-Transfer-Encoding', ''),
            'date': _date(msg),
            'message_id': str(msg['Message-ID']),
            'defects': _defects(msg),
            'body': body.get_content() if body is not None else '',
            'auth_login': (session.login_data.decode()
                           if isinstance(session.login_data, bytes) else session.login_data),
            # STARTTLS sets session.ssl; an implicit-TLS transport carries an ssl_object.
            'tls': (session.ssl is not None
                    or server.transport.get_extra_info('ssl_object') is not None),
        }
        with self.lock, open(self.out, 'a', encoding='utf-8') as f:
            f.write(json.dumps(record, ensure_ascii=False) + '\n')
        if self.echo:
            print(f"[smtp sink] mail to {record['to']}: {record['subject']}\n"
                  + ''.join(f'    {line}\n' for line in record['body'].splitlines() if line.strip()),
                  file=sys.stderr, flush=True)
        return '250 Message accepted for delivery'


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--tls', choices=['off', 'implicit', 'starttls'], default='off')
    p.add_argument('--cert-dir')
    p.add_argument('--user')
    p.add_argument('--password')
    p.add_argument('--reject-once', action='append', default=[])
    p.add_argument('--echo', action='store_true')
    a = p.parse_args()
    # A sink on loopback may take AUTH in the clear; aiosmtpd warns about it every time.
    warnings.filterwarnings('ignore', message='Requiring AUTH while not requiring TLS')
    logging.getLogger('mail.log').setLevel(logging.ERROR)

    kwargs = {'hostname': '127.0.0.1', 'port': a.port, 'enable_SMTPUTF8': True}
    smtp_kwargs = {}
    if a.tls != 'off':
        import trustme
        ca = trustme.CA()
        cert = ca.issue_cert('localhost', '127.0.0.1')
        os.makedirs(a.cert_dir, exist_ok=True)
        ca.cert_pem.write_to_path(os.path.join(a.cert_dir, 'ca.pem'))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        if a.tls == 'implicit':
            kwargs['ssl_context'] = ctx
            kwargs['server_hostname'] = 'localhost'
        else:
            smtp_kwargs['tls_context'] = ctx
            smtp_kwargs['require_starttls'] = True
    if a.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode() == a.user and auth_data.password.decode() == a.password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data)
        smtp_kwargs['authenticator'] = authenticator
        smtp_kwargs['auth_required'] = True
        # aiosmtpd only sees STARTTLS as TLS; on an implicit-TLS socket it must be told.
        smtp_kwargs['auth_require_tls'] = a.tls == 'starttls'

    controller = Controller(Sink(a.out, a.reject_once, a.echo), **kwargs, **smtp_kwargs)
    controller.start()
    print('ready', flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
