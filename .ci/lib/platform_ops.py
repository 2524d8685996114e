"""Prints the operation ids of an OpenAPI document that need the platform:admin scope (one a
line), or with --others those that do not. An operation needs it when its security requirement
names the scope, or its summary/description says it needs `platform:admin`, or it is under
/v1/organizations (the billing system's routes)."""
import json
import re
import sys

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
doc = json.load(open(sys.argv[1], encoding="utf-8"))
others = "--others" in sys.argv
for path, item in doc.get("paths", {}).items():
    for method, op in item.items():
        if method not in METHODS or not op.get("operationId"):
            continue
        scopes = {s for req in op.get("security") or [] for v in req.values() for s in v}
        text = f"{op.get('summary', '')} {op.get('description', '')}"
        platform = ("platform:admin" in scopes or "`platform:admin`" in text
                    or re.match(r"^/v1/organizations(/|$)", path) is not None)
        if platform != others:
            print(op["operationId"])
