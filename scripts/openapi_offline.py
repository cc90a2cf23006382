"""Write the gateway's merged OpenAPI document without running anything: built from the five service apps.

Usage: python scripts/openapi_offline.py out.json   (then `OPENAPI_URL=out.json make admin-api`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.app import create_app as create_gateway  # noqa: E402
from gateway.config import GatewaySettings  # noqa: E402
from gateway.openapi import merge  # noqa: E402
from gateway.routes import RoutingTable  # noqa: E402


def main(out: str) -> None:
    from services.auth.app import create_app as auth
    from services.channels.app import create_app as channels
    from services.chat.app import create_app as chat
    from services.search.app import create_app as search
    from services.transcription.app import create_app as transcription

    settings = GatewaySettings()
    docs = {name: factory().openapi() for name, factory in
            {"auth": auth, "chat": chat, "channels": channels, "transcription": transcription,
             "search": search}.items()}
    merged = merge(create_gateway(settings).openapi(), docs, RoutingTable(settings))
    Path(out).write_bytes(orjson.dumps(merged, option=orjson.OPT_INDENT_2))
    print(f"{out}: {len(merged['paths'])} paths")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "openapi.json")
