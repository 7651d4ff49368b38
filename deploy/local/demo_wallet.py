"""A demo wallet for `make up`: receives credreg webhooks, verifies their signatures, lists them.

GET /notices answers the verified notices as JSON; GET /readyz answers 200.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# A fixed, public demo secret: the seed script subscribes the wallet with it.
DEMO_WALLET_SECRET = "whsec_ZGVtby13YWxsZXQtc2VjcmV0LW5vdC1mb3ItcHJvZHVjdGlvbg=="  # noqa: S105
NOTICES: list[dict[str, Any]] = []


class WalletHandler(BaseHTTPRequestHandler):
    """Accepts signed webhooks on any path; serves the verified ones on /notices."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        """Verify and store one notice."""
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            payload = Webhook(DEMO_WALLET_SECRET).verify(body, dict(self.headers.items()))
        except WebhookVerificationError as error:
            print(f"[wallet] REJECTED a notice: {error}", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        NOTICES.append({"webhook_id": self.headers.get("webhook-id"), "payload": payload})
        print(
            f"[wallet] verified notice {self.headers.get('webhook-id')}: {payload.get('type')}",
            flush=True,
        )
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """Serve /readyz and /notices."""
        if self.path == "/readyz":
            body = b'{"status":"ok"}'
        elif self.path == "/notices":
            body = json.dumps(NOTICES, indent=2).encode()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - overridden API
        """Keep the log to the notices themselves."""


def main() -> None:
    """Serve until terminated."""
    port = int(os.environ.get("CREDREG_HTTP_PORT", "8009"))
    server = ThreadingHTTPServer(("127.0.0.1", port), WalletHandler)
    print(f"[wallet] listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
