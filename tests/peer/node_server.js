// Independent WebSocket peer for wsprobe's permessage-deflate tests: Node's `ws`
// server with perMessageDeflate on (every message compressed: threshold 0).
// Prints `listening on ws://127.0.0.1:PORT`, then echoes every message as it
// came and prints one JSON line per message received:
//   {"event": "message", "type": "text"|"binary", "size": N, "compressed": BOOL}
// and {"event": "closed", "code": N}. Exits when stdin closes.
//
// Options: --quiet (no line per message, for benchmarks), --server-no-context-takeover, --client-no-context-takeover,
// --server-max-window-bits N, --client-max-window-bits N.
"use strict";

const { WebSocketServer } = require("ws");

const args = process.argv.slice(2);
const perMessageDeflate = { threshold: 0 };
let quiet = false;
for (let i = 0; i < args.length; i++) {
  switch (args[i]) {
    case "--quiet": quiet = true; break;
    case "--server-no-context-takeover": perMessageDeflate.serverNoContextTakeover = true; break;
    case "--client-no-context-takeover": perMessageDeflate.clientNoContextTakeover = true; break;
    case "--server-max-window-bits": perMessageDeflate.serverMaxWindowBits = Number(args[++i]); break;
    case "--client-max-window-bits": perMessageDeflate.clientMaxWindowBits = Number(args[++i]); break;
    default: console.error(`unknown option ${args[i]}`); process.exit(2);
  }
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate, maxPayload: 64 << 20 });
wss.on("listening", () => console.log(`listening on ws://127.0.0.1:${wss.address().port}`));
wss.on("connection", (ws, req) => {
  emit({ event: "open", extensions: req.headers["sec-websocket-extensions"] || null });
  ws.on("message", (data, isBinary) => {
    if (!quiet) emit({ event: "message", type: isBinary ? "binary" : "text", size: data.length });
    ws.send(data, { binary: isBinary, compress: true });
  });
  ws.on("close", (code) => emit({ event: "closed", code }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
