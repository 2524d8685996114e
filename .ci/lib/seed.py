"""Seeds the CI organization for Schemathesis the way a client would: two brands, the sandbox
identity `sandbox-alice` connected over OAuth in both (one shared profile: the organization is on
the Advanced plan) and `sandbox-bob` in the first. The brands are the oldest of the organization,
so the document's links from `list_brands` / `list_accounts` (`data/0`) lead to real accounts.
Prints what it made as JSON."""

import json
import os
import sys

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from sandbox_oauth import connect  # noqa: E402

base, token = os.environ["BASE_URL"], os.environ["TOKEN"]
auth = {"Authorization": f"Bearer {token}"}
brands = []
for name in ("Seed North", "Seed South"):
    r = httpx.post(f"{base}/v1/brands", headers=auth, json={"name": name})
    r.raise_for_status()
    brands.append(r.json()["id"])
accounts = [
    connect(base, token, brands[0], "sandbox-alice")["account"]["id"],
    connect(base, token, brands[1], "sandbox-alice")["account"]["id"],
    connect(base, token, brands[0], "sandbox-bob")["account"]["id"],
]
print(json.dumps({"brands": brands, "accounts": accounts}))
