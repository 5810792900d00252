
use builtin;
use str;

set edit:completion:arg-completer[wsprobe] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'wsprobe'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'wsprobe'= {
            cand -l 'Instead of connecting, serve clients on [ADDRESS:]PORT (a bare port means 127.0.0.1; 0 picks a free port, printed as `wsprobe: listening on ws://…`) or on the Unix socket unix:PATH: many at once, each with an id, stdin lines broadcast to all of them (see "Listening"); with --once (or --cert, --script, --reconnect), one client at a time, talked to like a server'
            cand --listen 'Instead of connecting, serve clients on [ADDRESS:]PORT (a bare port means 127.0.0.1; 0 picks a free port, printed as `wsprobe: listening on ws://…`) or on the Unix socket unix:PATH: many at once, each with an id, stdin lines broadcast to all of them (see "Listening"); with --once (or --cert, --script, --reconnect), one client at a time, talked to like a server'
            cand --max-clients 'With --listen: serve at most N clients at once; more are accepted, then closed with 1013 "try again later" [default: no limit]'
            cand --path 'With --listen: accept only request paths that REGEX matches (e.g. ''^/chat$''); others get 404'
            cand --server-header 'With --listen: add a header to the 101 response (repeatable)'
            cand -H 'Add a request header to the upgrade request (repeatable)'
            cand --header 'Add a request header to the upgrade request (repeatable)'
            cand -s 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference; one name per flag)'
            cand --subprotocol 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference; one name per flag)'
            cand --origin 'Send this Origin header [default: none]'
            cand --auth 'HTTP Basic credentials (also taken from the URL: ws://user:pass@host/)'
            cand --user-agent 'User-Agent header value'
            cand --connect-timeout 'Give up connecting after this long: DNS, TCP, proxy, TLS and the upgrade together, per attempt (exit 3)'
            cand --proxy 'Connect through a proxy: http://[user:pass@]host:port (CONNECT), https:// (CONNECT inside TLS to the proxy), socks5:// or socks5h:// [default: from ws_proxy/wss_proxy, http_proxy/https_proxy, all_proxy]'
            cand --resolve 'Use these addresses for HOST:PORT instead of DNS (curl''s flag; repeatable). The Host header, TLS SNI and certificate check keep the URL''s name. Example: --resolve api.example.com:443:10.0.0.7'
            cand --connect-to 'Connect to HOST2:PORT2 when the URL says HOST:PORT (curl''s flag; repeatable; empty fields match any / keep the URL''s). Host header, SNI and certificate check keep the URL''s name. Example: --connect-to api.example.com:443:staging.internal:8443'
            cand --max-redirs 'With -L: follow at most N redirects (curl''s flag; harmless without -L)'
            cand --unix-socket 'Connect to this Unix socket instead of the URL''s host and port (curl''s flag; websocat''s ws-u:unix:); the URL still gives the Host header, path and TLS (wss:// checks the URL''s host). A ws+unix:///run/app.sock:/path URL does the same'
            cand --reconnect 'When the server closes or the connection drops, connect again (backoff 0.5s to 30s, at most N tries in a row, N at least 1; --reconnect alone: no limit) and re-send the -x messages; also retries the first connection'
            cand --ping-interval 'Send a keepalive ping this often (payload ''wsprobe-keepalive'') [default: never]'
            cand --ping-timeout 'Exit 1 when a keepalive ping gets no pong within this long (needs --ping-interval) [default: no limit]'
            cand --max-message-size 'Largest message (and frame) accepted from the server, in bytes'
            cand --deflate 'Offer permessage-deflate compression (RFC 7692); alone it offers what browsers do (''client_max_window_bits''), =PARAMS offers those parameters, e.g. --deflate=''server_no_context_takeover; client_max_window_bits=10''. With --listen: accept a client''s offer (PARAMS: what to ask of it)'
            cand --cacert 'Trust the CA certificates in this PEM file (in addition to the system''s)'
            cand --cert 'Client certificate (PEM, may include the chain); needs --key. With --listen: the server certificate (serves wss://)'
            cand --key 'Private key for --cert (PEM: PKCS#8, RSA or EC)'
            cand --proxy-cacert 'With an https:// proxy: trust the CA certificates in this PEM file for the proxy''s certificate (in addition to the system''s; curl''s flag)'
            cand -x 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin, @@… a literal @…)'
            cand --execute 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin, @@… a literal @…)'
            cand -n 'End once N messages have been received (after the input is sent) [default: one per message sent]'
            cand --count 'End once N messages have been received (after the input is sent) [default: one per message sent]'
            cand --expect 'End once a received message matches REGEX; repeatable, matched in order [default: none]'
            cand -w 'After the input ends, keep receiving for this long (''forever'': until the server closes) [default: until one reply per message]'
            cand --wait 'After the input ends, keep receiving for this long (''forever'': until the server closes) [default: until one reply per message]'
            cand --timeout 'Hard deadline for the whole run, every phase included (connecting, reconnecting, a stalled stdout, the close); reaching it exits 6 (use --wait to stop successfully after a while) [default: none]'
            cand --close-code 'Close code wsprobe sends when it ends the run'
            cand --close-reason 'Close reason wsprobe sends when it ends the run (at most 123 bytes)'
            cand --expect-jq 'End once a received JSON message makes FILTER (jq) yield true; repeatable, matched in order together with --expect; non-JSON messages never match. Example: --expect-jq ''.type == "ack"'''
            cand --jq 'Print only FILTER''s outputs (compact JSON, one line each) for each JSON message; other messages as usual. Example: --jq ''.data.price'''
            cand --fail-on 'End the run with exit 8 at the first received message matching REGEX; repeatable. Example: --fail-on ''"error"'''
            cand --fail-on-jq 'End the run with exit 8 at the first JSON message for which FILTER yields true; repeatable. Example: --fail-on-jq ''.type == "error"'''
            cand --reply 'Answer every received message matching REGEX with REPLY ($1..$9 and ${name} expand capture groups); repeatable, the first matching rule answers. Example: --reply ''^2$'' 3'
            cand --exec 'Run `sh -c CMD` for each received message, with the payload on its stdin and WSPROBE_TYPE=text|binary (and WSPROBE_SEQ, the message''s number) in its environment; what it prints is sent back as one message (text when the message was text and the output UTF-8). Runs until the server closes, like --echo. Example: --exec ''jq -c .data'''
            cand --exec-jobs 'How many --exec commands may run at once; their replies are still sent in the order the messages arrived'
            cand --script 'Run the conversation script FILE (''-'': read it from stdin): one step per line, in order, after the -x messages; an unmet step exits 6 naming its line. Example: --script login.ws'
            cand --timestamps 'Prefix each output line with the time: local (HH:MM:SS.mmm) or relative (seconds since connect); in the REPL, sent messages get a stamped `>` line too. E.g. --timestamps=relative'
            cand --record 'Also write the whole session to FILE as JSON lines (the --jsonl schema)'
            cand --redact 'Also redact the query parameter or header NAME (repeatable; case-insensitive), e.g. --redact X-Tenant --redact room'
            cand --max-display 'Show at most this many bytes of a binary message in the hexdump'
            cand --color 'When to use colors (NO_COLOR is honoured by ''auto'')'
            cand --once 'With --listen: serve one client, then end with its outcome (the stop rule and exit codes of a client run: --expect, --count, a client''s Close code)'
            cand --tag 'With --listen, in pipe mode: start each line with the id of the client that sent it and a tab (`3<TAB>hello`); --jsonl has a `client` field instead'
            cand -V 'Print the version (with -v: also the TLS library)'
            cand --version 'Print the version (with -v: also the TLS library)'
            cand --no-proxy 'Ignore the proxy environment variables'
            cand -L 'Follow redirects (301, 302, 303, 307, 308) answered to the upgrade, as curl''s -L/--location (websocat has none); Authorization and Cookie go only to the original scheme, host and port'
            cand --location 'Follow redirects (301, 302, 303, 307, 308) answered to the upgrade, as curl''s -L/--location (websocat has none); Authorization and Cookie go only to the original scheme, host and port'
            cand -4 'Connect over IPv4 only (of the addresses the name resolves to)'
            cand --ipv4 'Connect over IPv4 only (of the addresses the name resolves to)'
            cand -6 'Connect over IPv6 only (of the addresses the name resolves to)'
            cand --ipv6 'Connect over IPv6 only (of the addresses the name resolves to)'
            cand -k 'Do not verify the server''s certificate or hostname'
            cand --insecure 'Do not verify the server''s certificate or hostname'
            cand --proxy-insecure 'With an https:// proxy: do not verify the proxy''s certificate or hostname (curl''s flag)'
            cand --binary 'Send messages as binary instead of text'
            cand -0 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL'
            cand --null 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL'
            cand --echo 'Reply to every message received with the same payload and type, until the server closes'
            cand --exec-strict 'A failing --exec command (non-zero exit, killed, output over --max-message-size) ends the run with exit 1 instead of a warning'
            cand -q 'Only message payloads on stdout; nothing on stderr but errors (no connecting line, hint or progress bar on a terminal)'
            cand --quiet 'Only message payloads on stdout; nothing on stderr but errors (no connecting line, hint or progress bar on a terminal)'
            cand --jsonl 'Write every event (open, messages both ways, pings, close, error) as one JSON object per line'
            cand --stats 'At the end of the run (also after a failure, a timeout or Ctrl-C, once connected), print statistics on stderr, even with -q: connection times (DNS, TCP, TLS, upgrade), time to the first message, data messages and bytes each way, and, when pings were sent (--ping-interval, /ping), round trips (min, median, p90, p99, max); with --jsonl or --record also a last `stats` event. Example: wsprobe URL -x hi --ping-interval 100ms --wait 2s --stats'
            cand -v 'Show the handshake on stderr: headers, certificate, timings (-vv: also every frame)'
            cand --verbose 'Show the handshake on stderr: headers, certificate, timings (-vv: also every frame)'
            cand --show-secrets 'Show credentials instead of <redacted>: URL passwords, query parameters such as token/api_key/signature, headers such as Authorization, Cookie, X-Api-Key, and bearer tokens offered as subprotocols'
            cand --force 'Let --record overwrite an existing file (without it, an existing file is an error)'
            cand -i 'Open the interactive REPL even with -x (the -x messages are sent first)'
            cand --interactive 'Open the interactive REPL even with -x (the -x messages are sent first)'
            cand -P 'Show pings and pongs in both directions (they are always answered)'
            cand --show-ping-pong 'Show pings and pongs in both directions (they are always answered)'
            cand --no-pretty 'Show JSON messages as received instead of pretty-printed'
            cand --no-history 'Do not read or write the history file ($XDG_STATE_HOME/wsprobe/history)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
    ]
    $completions[$command]
}
