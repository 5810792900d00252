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
  client [--recv N | --until-closed] [--digest] [--close CODE [--reason R]] URL ITEM...
                             instead of serving, connect to URL (offering the
                             --subprotocol names; compression as the options below
                             say), report the response ("open", with "headers" and
                             "subprotocol"), send each ITEM (as for converse), report
                             N messages (default: as many as ITEMs sent; with
                             --until-closed, all until the server closes), then close
                             with CODE (default 1000). --digest reports one
                             {"event": "digest", "count": N, "bytes": B, "sha256": H}
                             line instead of each message (H over the payloads in order)

--unix PATH serves on a Unix socket at PATH instead (and prints
`listening on unix:PATH`); in client mode it connects through it.

--tls CERT KEY serves wss:// with this certificate and key (PEM), accepting ALPN
http/1.1 (prints `listening on wss://127.0.0.1:PORT`; the open event then has
"alpn": the protocol ALPN agreed, or null); --keylog FILE has the server append
its own TLS secrets to FILE (NSS key log format).

permessage-deflate (on by default, as in `websockets`): --no-compression turns it
off; --server-max-window-bits N, --client-max-window-bits N,
--server-no-context-takeover and --client-no-context-takeover set its parameters
(in client mode: what the offer asks for). --max-size BYTES raises the message
size limit (default 1 MiB).
"""

import argparse
import asyncio
import base64
import hashlib
import json
import ssl
import sys

from websockets.asyncio.client import connect, unix_connect
from websockets.asyncio.server import serve, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)


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


async def send_item(ws, item):
    """Send one ITEM; returns the pong waiter of a ping."""
    kind, _, value = item.partition(":")
    if kind == "text":
        await ws.send(value)
    elif kind == "binary":
        await ws.send(base64.b64decode(value))
    elif kind == "frag":
        await ws.send(value.split("|"))
    elif kind == "ping":
        return await ws.ping(value)
    else:
        raise SystemExit(f"unknown item {item!r}")
    return None


def deflate_options(args, factory):
    """`compression` and `extensions` for websockets: its default compression
    (windows of 2^12) unless an option says otherwise."""
    if args.no_compression:
        return {"compression": None}
    if not (args.server_no_context_takeover or args.client_no_context_takeover
            or args.server_max_window_bits or args.client_max_window_bits):
        return {"compression": "deflate"}
    return {"compression": None, "extensions": [factory(
        server_no_context_takeover=args.server_no_context_takeover,
        client_no_context_takeover=args.client_no_context_takeover,
        server_max_window_bits=args.server_max_window_bits,
        client_max_window_bits=args.client_max_window_bits,
    )]}


async def run_client(args):
    options = dict(max_size=args.max_size, subprotocols=args.subprotocol,
                   **deflate_options(args, ClientPerMessageDeflateFactory))
    # --unix PATH: connect through that Unix socket (the URL gives Host and path).
    connection = (unix_connect(args.unix, args.url, **options) if args.unix
                  else connect(args.url, **options))
    async with connection as ws:
        emit({"event": "open",
              "extensions": [type(e).__name__ + repr(vars(e)) for e in ws.protocol.extensions],
              "headers": [[k.lower(), v] for k, v in ws.response.headers.raw_items()],
              "subprotocol": ws.subprotocol})
        for item in args.items:
            await send_item(ws, item)
        wanted = len(args.items) if args.recv is None else args.recv
        digest, count, size = hashlib.sha256(), 0, 0
        try:
            while args.until_closed or count < wanted:
                message = await ws.recv()
                count += 1
                if args.digest:
                    data = message.encode() if isinstance(message, str) else message
                    digest.update(data)
                    size += len(data)
                else:
                    report_message(message)
        except ConnectionClosed:
            pass
        if args.digest:
            emit({"event": "digest", "count": count, "bytes": size,
                  "sha256": digest.hexdigest()})
        await ws.close(code=args.close, reason=args.reason)
    emit({"event": "closed", "code": ws.close_code, "reason": ws.close_reason})


async def converse(ws, args):
    pong_waiters = []
    for item in args.items:
        waiter = await send_item(ws, item)
        if waiter is not None:
            pong_waiters.append((item.partition(":")[2], waiter))
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


def tls_report(ws):
    """{"alpn": ...} for a TLS connection, nothing otherwise."""
    tls = ws.transport.get_extra_info("ssl_object")
    return {} if tls is None else {"alpn": tls.selected_alpn_protocol()}


def tls_context(args):
    if not args.tls:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls[0], args.tls[1])
    context.set_alpn_protocols(["http/1.1"])
    if args.keylog:
        context.keylog_filename = args.keylog
    return context


def make_handler(args):
    async def handler(ws):
        emit({
            "event": "open",
            "path": ws.request.path,
            "headers": [[k.lower(), v] for k, v in ws.request.headers.raw_items()],
            "subprotocol": ws.subprotocol,
            **tls_report(ws),
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
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--server-no-context-takeover", action="store_true")
    parser.add_argument("--client-no-context-takeover", action="store_true")
    parser.add_argument("--server-max-window-bits", type=int, default=None)
    parser.add_argument("--client-max-window-bits", type=int, default=None)
    parser.add_argument("--max-size", type=int, default=2**20)
    parser.add_argument("--unix", default=None, help="serve on this Unix socket")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), default=None)
    parser.add_argument("--keylog", default=None)
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
    client = sub.add_parser("client")
    client.add_argument("--recv", type=int, default=None)
    client.add_argument("--until-closed", action="store_true")
    client.add_argument("--digest", action="store_true")
    client.add_argument("--close", type=int, default=1000)
    client.add_argument("--reason", default="")
    client.add_argument("url")
    client.add_argument("items", nargs="*")
    args = parser.parse_args()

    if args.mode == "client":
        await run_client(args)
        return
    options = dict(subprotocols=args.subprotocol, max_size=args.max_size,
                   **deflate_options(args, ServerPerMessageDeflateFactory))
    if args.unix:
        server = unix_serve(make_handler(args), args.unix, **options)
    else:
        server = serve(make_handler(args), "127.0.0.1", 0, ssl=tls_context(args), **options)
    async with server as server:
        if args.unix:
            print(f"listening on unix:{args.unix}", flush=True)
        else:
            port = server.sockets[0].getsockname()[1]
            scheme = "wss" if args.tls else "ws"
            print(f"listening on {scheme}://127.0.0.1:{port}", flush=True)
        # Exit when the test closes our stdin (or dies), never run forever.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
