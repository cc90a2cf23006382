"""Schemathesis hooks for tests/security/test_schemathesis.py (loaded by the CLI through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import schemathesis


@schemathesis.hook
def map_case(context, case):
    """A tenant admin may deactivate their own tenant, which would end the run's credentials: keep it active.

    Every other field of the tenant settings is still fuzzed, and a 'status' of any other value still is too.
    """
    op = context.operation
    tenant_patch = op is not None and op.method.upper() == "PATCH" and op.path == "/api/v1/tenants/{tenant_id}"
    if tenant_patch and isinstance(case.body, dict) and case.body.get("status") == "inactive":
        case.body = {**case.body, "status": "active"}
    return case
