"""A real webhook receiver for .ci/steps/60-webhooks.sh: it subscribes to a live tokenwarden,
causes events (a connect over the sandbox's OAuth flow, a test event), and verifies every
delivery it receives with the `standardwebhooks` library from PyPI — an implementation
independent of tokenwarden's own signing code. A tampered body must fail that verification."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from standardwebhooks.webhooks import Webhook

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sandbox_oauth import connect  # noqa: E402

BASE_URL = os.environ["BASE_URL"]
AUTH = {"Authorization": f"Bearer {os.environ['TOKEN']}"}
received: list[tuple[dict[str, str], bytes]] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the http.server spelling)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}/hooks"

    created = httpx.post(f"{BASE_URL}/v1/webhooks", headers=AUTH, json={
        "url": target, "events": ["account.connected", "token.renewed"],
        "description": "CI receiver"})
    if created.status_code != 201:
        print(f"FAIL: creating the subscription answered {created.status_code}: {created.text}")
        return 1
    secret = created.json()["secret"]
    webhook_id = created.json()["webhook"]["id"]
    print(f"  ok: subscribed {target} (secret shown once, {secret[:6]}…)")

    brand = httpx.post(f"{BASE_URL}/v1/brands", headers=AUTH, json={"name": "Webhook brand"})
    brand.raise_for_status()
    connect(BASE_URL, os.environ["TOKEN"], brand.json()["id"], "sandbox-alice")
    test = httpx.post(f"{BASE_URL}/v1/webhooks/{webhook_id}/test", headers=AUTH)
    if test.status_code != 202:
        print(f"FAIL: the test event answered {test.status_code}: {test.text}")
        return 1
    print("  ok: connected sandbox-alice and queued a test event")

    deadline = time.monotonic() + 90
    types: set[str] = set()
    while time.monotonic() < deadline and not {"account.connected", test.json()["type"]} <= types:
        time.sleep(0.5)
        types = {json.loads(body)["type"] for _, body in list(received)}
    if not {"account.connected", test.json()["type"]} <= types:
        print(f"FAIL: deliveries seen: {sorted(types)}")
        return 1

    verifier = Webhook(secret)
    for headers, body in list(received):
        payload = verifier.verify(body, headers)
        if not payload.get("type"):
            print("FAIL: a verified delivery has no type")
            return 1
        try:
            verifier.verify(body.replace(b"}", b" }", 1), headers)
        except Exception:  # noqa: BLE001 (the library raises its own verification error)
            pass
        else:
            print("FAIL: a tampered body verified")
            return 1
    print(f"  ok: {len(received)} deliveries verified by standardwebhooks ({sorted(types)}); "
          "a tampered body is refused")

    attempts = httpx.get(f"{BASE_URL}/v1/webhooks/{webhook_id}/deliveries", headers=AUTH)
    attempts.raise_for_status()
    outcomes = [a["outcome"] for a in attempts.json()["data"]]
    if not outcomes:
        print("FAIL: no delivery attempt recorded")
        return 1
    print(f"  ok: attempts recorded: {outcomes}")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
