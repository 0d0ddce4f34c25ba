"""A fan-out SSE server on sse-starlette under uvicorn, for sse-load peer runs.

GET /events streams every published event (id: N, data: the published body) to every
subscriber; POST /publish publishes its body; GET /health answers ok. It binds a free
port on 127.0.0.1 itself and writes the port and its pid to the files given, so the
caller never guesses a port.

    python server.py --port-file PORT --pid-file PID
"""

import argparse
import asyncio
import os
import socket

import uvicorn
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

subscribers: set[asyncio.Queue] = set()
published = 0


async def events(request: Request) -> EventSourceResponse:
    queue: asyncio.Queue = asyncio.Queue()
    subscribers.add(queue)

    async def stream():
        try:
            while True:
                event_id, data = await queue.get()
                yield {"id": str(event_id), "data": data}
        finally:
            subscribers.discard(queue)

    return EventSourceResponse(stream())


async def publish(request: Request) -> JSONResponse:
    global published
    body = (await request.body()).decode("utf-8", "replace")
    published += 1
    for queue in list(subscribers):
        queue.put_nowait((published, body))
    return JSONResponse({"id": published})


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/events", events),
        Route("/publish", publish, methods=["POST"]),
        Route("/health", health),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--pid-file", required=True)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with open(args.pid_file, "w") as f:
        f.write(f"{os.getpid()}\n")
    with open(args.port_file, "w") as f:
        f.write(f"{sock.getsockname()[1]}\n")
    config = uvicorn.Config(app, log_level="warning", backlog=4096)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
