"""The server floor of bench/perf.py: a raw ASGI callable (no framework) that answers each recorded request with
the recorded answer's bytes (status, headers but Date and Server, body), served by the same uvicorn with the
options `zwc serve` gives it (app/cli.py).

    python bench/bare_asgi.py --responses FILE --port P [--workers N]

FILE is a JSON list of {"method", "target" (path and query), "conditional" (sent with If-None-Match), "status",
"headers": [[name, value], ...], "body" (base64)}. A request matches on method, target and whether it carries
If-None-Match; a POST matches whatever its target's query. Anything else answers 404.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from typing import Any

RESPONSES_ENV = "ZWC_BENCH_BARE_RESPONSES"
SKIPPED = {"date", "server"}  # uvicorn writes its own Date (and no Server: server_header=False)

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def load(path: str) -> dict[tuple[str, str, bool], Answer]:
    with open(path, encoding="utf-8") as handle:
        recorded = json.load(handle)
    return {(r["method"], r["target"], bool(r["conditional"])): (
        int(r["status"]), [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r["headers"]
                           if k.lower() not in SKIPPED], base64.b64decode(r["body"])) for r in recorded}


def create_app() -> Any:
    answers = load(os.environ[RESPONSES_ENV])
    missing: Answer = (404, [(b"content-type", b"text/plain"), (b"content-length", b"12")], b"not recorded")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, as any real endpoint would
            message = await receive()
            more = message.get("more_body", False)
        query = scope["query_string"].decode("latin-1")
        target = scope["path"] + (f"?{query}" if query and scope["method"] != "POST" else "")
        conditional = any(name == b"if-none-match" for name, _ in scope["headers"])
        status, headers, body = answers.get((scope["method"], target, conditional), missing)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    import uvicorn

    from app.core.logging import log_config

    os.environ[RESPONSES_ENV] = os.path.abspath(args.responses)
    load(os.environ[RESPONSES_ENV])  # fail here, not in the workers
    # The options of `zwc serve` (app/cli.py), with this module's factory instead of the application's.
    uvicorn.run("bare_asgi:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                proxy_headers=True, server_header=False, log_config=log_config(args.log_level), access_log=False,
                app_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main()
