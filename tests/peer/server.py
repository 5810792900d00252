"""Independent WebSocket peer for wsprobe's integration tests.

Runs a server of the Python `websockets` package on 127.0.0.1 (port chosen by
the OS), prints `listening on ws://127.0.0.1:PORT` once ready, then one JSON
object per line for what it observes:

  {"event": "open", "path": ..., "headers": [[name, value], ...], "subprotocol": ...}
  {"event": "message", "type": "text", "data": ...}
  {"event": "message", "type": "binary", "data": <base64>}
  {"event": "closed", "code": ..., "reason": ...}

  {"event": "pong", "data": ...}             (converse: the pong answering our ping)

Modes:
  echo                       send every message back as it came
  push COUNT CODE [REASON]   send "msg 1".."msg COUNT", then close with CODE
  converse [--replies N] [--close CODE [--reason R]] ITEM...
                             send each ITEM in order, then report what the client
                             sends: with --replies, wait for N messages (and the
                             pongs of our pings), then close with CODE (default
                             1000); without, until the client closes. ITEMs:
                               text:STR         a text message
                               binary:BASE64    a binary message
                               frag:A|B|C       a text message in fragments A, B, C
                               ping:STR         a ping (its pong is reported)
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


async def converse(ws, args):
    pong_waiters = []
    for item in args.items:
        kind, _, value = item.partition(":")
        if kind == "text":
            await ws.send(value)
        elif kind == "binary":
            await ws.send(base64.b64decode(value))
        elif kind == "frag":
            await ws.send(value.split("|"))
        elif kind == "ping":
            pong_waiters.append((value, await ws.ping(value)))
        else:
            raise SystemExit(f"unknown item {item!r}")
    if args.replies is None:
        reader = asyncio.ensure_future(drain(ws))
        for value, waiter in pong_waiters:
            try:
                await waiter
                emit({"event": "pong", "data": value})
            except ConnectionClosed:
                break
        await reader
        return
    try:
        for _ in range(args.replies):
            report_message(await ws.recv())
        for value, waiter in pong_waiters:
            await waiter
            emit({"event": "pong", "data": value})
    except ConnectionClosed:
        return
    reader = asyncio.ensure_future(drain(ws))
    await ws.close(code=args.close, reason=args.reason)
    await reader


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
            elif args.mode == "converse":
                await converse(ws, args)
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
    conv = sub.add_parser("converse")
    conv.add_argument("--replies", type=int, default=None)
    conv.add_argument("--close", type=int, default=1000)
    conv.add_argument("--reason", default="")
    conv.add_argument("items", nargs="*")
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
