"""The browser's and the network client's side of the sandbox network's OAuth flow, for the CI
steps: connect a sandbox identity to a brand through tokenwarden (connect, approve, callback),
or get a sandbox access token directly (as a grant another tool would hold, for imports)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import urllib.parse

import httpx

SANDBOX_CLIENT = ("sandbox-client", "sandbox-secret")


def connect(base_url: str, token: str, brand_id: str, subject: str) -> dict:
    """Connects `subject` to a brand over the real flow; returns the callback's JSON answer."""
    auth = {"Authorization": f"Bearer {token}"}
    start = httpx.post(f"{base_url}/v1/brands/{brand_id}/accounts/connect", headers=auth,
                       json={"network": "sandbox"})
    start.raise_for_status()
    approve = httpx.get(f"{start.json()['authorization_url']}&auto_approve={subject}")
    if approve.status_code != 303:
        raise RuntimeError(f"the sandbox answered {approve.status_code}: {approve.text[:200]}")
    done = httpx.get(approve.headers["location"])
    done.raise_for_status()
    return done.json()


def access_token(base_url: str, subject: str) -> str:
    """A fresh sandbox access token of `subject`, obtained the way any OAuth client would."""
    redirect = f"{base_url}/ci/import-callback"
    httpx.post(f"{base_url}/sandbox/control/redirect-uris", json={"uri": redirect}).raise_for_status()
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "client_id": SANDBOX_CLIENT[0], "redirect_uri": redirect, "response_type": "code",
        "scope": "profile offline_access", "state": secrets.token_urlsafe(16),
        "code_challenge": challenge, "code_challenge_method": "S256", "auto_approve": subject,
    })
    approve = httpx.get(f"{base_url}/sandbox/authorize?{query}")
    if approve.status_code != 303:
        raise RuntimeError(f"the sandbox answered {approve.status_code}: {approve.text[:200]}")
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(approve.headers["location"]).query))["code"]
    answer = httpx.post(f"{base_url}/sandbox/token", auth=SANDBOX_CLIENT, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
        "code_verifier": verifier,
    })
    answer.raise_for_status()
    return answer.json()["access_token"]
