"""Independent WebSocket peer for wsprobe's integration tests.

Runs a server of the Python `websockets` package on 127.0.0.1 (port chosen by
the OS), prints `listening on ws://127.0.0.1:PORT` once ready, then one JSON
object per line for what it observes:

  {"event": "open", "path": ..., "headers": [[name, value], ...], "subprotocol": ...}
  {"event": "message", "type": "text", "data": ...}
  {"event": "message", "type": "binary", "data": <base64>}
  {"event": "closed", "code": ..., "reason": ...}

Modes:
  echo                       send every message back as it came
  push COUNT CODE [REASON]   send "msg 1".."msg COUNT", then close with CODE
"""

import argparse
import asyncio
import base64
import json
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def report_message(message):
    if isinstance(message, str):
        emit({"event": "message", "type": "text", "data": message})
    else:
        emit({"event": "message", "type": "binary",
              "data": base64.b64encode(message).decode("ascii")})


async def drain(ws):
    try:
        async for message in ws:
            report_message(message)
    except ConnectionClosed:
        pass


def make_handler(args):
    async def handler(ws):
        emit({
            "event": "open",
            "path": ws.request.path,
            "headers": [[k.lower(), v] for k, v in ws.request.headers.raw_items()],
            "subprotocol": ws.subprotocol,
        })
        try:
            if args.mode == "echo":
                try:
                    async for message in ws:
                        report_message(message)
                        await ws.send(message)
                except ConnectionClosed:
                    pass
            elif args.mode == "push":
                for i in range(1, args.count + 1):
                    await ws.send(f"msg {i}")
                # Keep reporting what the client sends while closing.
                reader = asyncio.ensure_future(drain(ws))
                await ws.close(code=args.code, reason=args.reason)
                await reader
            await ws.wait_closed()
        finally:
            emit({"event": "closed", "code": ws.close_code, "reason": ws.close_reason})

    return handler


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subprotocol", action="append", default=None,
                        help="subprotocol the server supports (repeatable)")
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("echo")
    push = sub.add_parser("push")
    push.add_argument("count", type=int)
    push.add_argument("code", type=int)
    push.add_argument("reason", nargs="?", default="")
    args = parser.parse_args()

    async with serve(make_handler(args), "127.0.0.1", 0,
                     subprotocols=args.subprotocol) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}", flush=True)
        # Exit when the test closes our stdin (or dies), never run forever.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
