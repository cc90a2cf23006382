"""The providers' share of a webhook, in-process: read, signature check, parse, statuses and answer for Twilio's and
Meta's (WhatsApp Cloud API) webhooks of the same message, each built and signed before the clock starts.

No server, database or network: what `bench/webhooks.py --providers twilio,meta` measures end to end, without its
noise. `python -m bench.webhook_parse [--n 20000] [--rounds 5]`; prints microseconds per request, each round
alternating which provider goes first, and the Meta / Twilio ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.webhooks import META_APP_SECRET, PUBLIC_BASE, TWILIO_TOKEN, MetaSigner, Signer
from services.channels.providers.base import WebhookRequest
from services.channels.providers.meta import WhatsAppCloud
from services.channels.providers.twilio import TwilioWhatsApp


def requests(signer, n: int) -> list[WebhookRequest]:
    """The signer's raw HTTP requests as the intake receives them (headers lower-cased, the body)."""
    out = []
    for _, _, raw in (signer.request("P") for _ in range(n)):
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        out.append(WebhookRequest("c", headers, path, "", body))
    return out


def per_request(provider, verifier, reqs: list[WebhookRequest]) -> float:
    started = time.perf_counter()
    for r in reqs:
        parts = provider.read(r)
        if not provider.authentic(verifier, parts):
            raise AssertionError("signature refused")
        provider.messages(parts)
        provider.statuses(parts)
        provider.answer([None])
    return (time.perf_counter() - started) / len(reqs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    twilio = TwilioWhatsApp(public_base_url=PUBLIC_BASE)
    meta = WhatsAppCloud()
    sides = {
        "twilio": (twilio, twilio.verifier({"auth_token": TWILIO_TOKEN}), requests(Signer("c", 1), args.n)),
        "meta": (meta, meta.verifier({"app_secret": META_APP_SECRET}), requests(MetaSigner("c", 1), args.n)),
    }
    got: dict[str, list[float]] = {"twilio": [], "meta": []}
    for i in range(args.rounds):
        for name in ("twilio", "meta") if i % 2 == 0 else ("meta", "twilio"):
            got[name].append(per_request(*sides[name]))
    for name, values in got.items():
        print(f"{name:>6}: median {statistics.median(values):.1f} us/request (rounds: "
              + ", ".join(f"{v:.1f}" for v in values) + ")")  # fmt: skip
    ratios = [m / t for m, t in zip(got["meta"], got["twilio"], strict=True)]
    print(f"meta / twilio: median {statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
