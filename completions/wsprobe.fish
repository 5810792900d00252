complete -c wsprobe -s l -l listen -d 'Instead of connecting, serve clients on [ADDRESS:]PORT (a bare port means 127.0.0.1; 0 picks a free port, printed as `wsprobe: listening on ws://…`) or on the Unix socket unix:PATH: many at once, each with an id, stdin lines broadcast to all of them (see "Listening"); with --once (or --cert, --script, --reconnect), one client at a time, talked to like a server' -r
complete -c wsprobe -l max-clients -d 'With --listen: serve at most N clients at once; more are accepted, then closed with 1013 "try again later" [default: no limit]' -r
complete -c wsprobe -l path -d 'With --listen: accept only request paths that REGEX matches (e.g. \'^/chat$\'); others get 404' -r
complete -c wsprobe -l server-header -d 'With --listen: add a header to the 101 response (repeatable)' -r
complete -c wsprobe -s H -l header -d 'Add a request header to the upgrade request (repeatable)' -r
complete -c wsprobe -s s -l subprotocol -d 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference; one name per flag)' -r
complete -c wsprobe -l origin -d 'Send this Origin header [default: none]' -r
complete -c wsprobe -l auth -d 'HTTP Basic credentials (also taken from the URL: ws://user:pass@host/)' -r
complete -c wsprobe -l user-agent -d 'User-Agent header value' -r
complete -c wsprobe -l connect-timeout -d 'Give up connecting after this long: DNS, TCP, proxy, TLS and the upgrade together, per attempt (exit 3)' -r
complete -c wsprobe -l proxy -d 'Connect through a proxy: http://[user:pass@]host:port (CONNECT), https:// (CONNECT inside TLS to the proxy), socks5:// or socks5h:// [default: from ws_proxy/wss_proxy, http_proxy/https_proxy, all_proxy]' -r
complete -c wsprobe -l resolve -d 'Use these addresses for HOST:PORT instead of DNS (curl\'s flag; repeatable). The Host header, TLS SNI and certificate check keep the URL\'s name. Example: --resolve api.example.com:443:10.0.0.7' -r
complete -c wsprobe -l connect-to -d 'Connect to HOST2:PORT2 when the URL says HOST:PORT (curl\'s flag; repeatable; empty fields match any / keep the URL\'s). Host header, SNI and certificate check keep the URL\'s name. Example: --connect-to api.example.com:443:staging.internal:8443' -r
complete -c wsprobe -l max-redirs -d 'With -L: follow at most N redirects (curl\'s flag; harmless without -L)' -r
complete -c wsprobe -l unix-socket -d 'Connect to this Unix socket instead of the URL\'s host and port (curl\'s flag; websocat\'s ws-u:unix:); the URL still gives the Host header, path and TLS (wss:// checks the URL\'s host). A ws+unix:///run/app.sock:/path URL does the same' -r -F
complete -c wsprobe -l reconnect -d 'When the server closes or the connection drops, connect again (backoff 0.5s to 30s, at most N tries in a row, N at least 1; --reconnect alone: no limit) and re-send the -x messages; also retries the first connection' -r
complete -c wsprobe -l ping-interval -d 'Send a keepalive ping this often (payload \'wsprobe-keepalive\') [default: never]' -r
complete -c wsprobe -l ping-timeout -d 'Exit 1 when a keepalive ping gets no pong within this long (needs --ping-interval) [default: no limit]' -r
complete -c wsprobe -l max-message-size -d 'Largest message (and frame) accepted from the server, in bytes' -r
complete -c wsprobe -l deflate -d 'Offer permessage-deflate compression (RFC 7692); alone it offers what browsers do (\'client_max_window_bits\'), =PARAMS offers those parameters, e.g. --deflate=\'server_no_context_takeover; client_max_window_bits=10\'. With --listen: accept a client\'s offer (PARAMS: what to ask of it)' -r
complete -c wsprobe -l cacert -d 'Trust the CA certificates in this PEM file (in addition to the system\'s)' -r -F
complete -c wsprobe -l cert -d 'Client certificate (PEM, may include the chain); needs --key. With --listen: the server certificate (serves wss://)' -r -F
complete -c wsprobe -l key -d 'Private key for --cert (PEM: PKCS#8, RSA or EC)' -r -F
complete -c wsprobe -l proxy-cacert -d 'With an https:// proxy: trust the CA certificates in this PEM file for the proxy\'s certificate (in addition to the system\'s; curl\'s flag)' -r -F
complete -c wsprobe -s x -l execute -d 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin, @@… a literal @…)' -r
complete -c wsprobe -s n -l count -d 'End once N messages have been received (after the input is sent) [default: one per message sent]' -r
complete -c wsprobe -l expect -d 'End once a received message matches REGEX; repeatable, matched in order [default: none]' -r
complete -c wsprobe -s w -l wait -d 'After the input ends, keep receiving for this long (\'forever\': until the server closes) [default: until one reply per message]' -r
complete -c wsprobe -l timeout -d 'Hard deadline for the whole run, every phase included (connecting, reconnecting, a stalled stdout, the close); reaching it exits 6 (use --wait to stop successfully after a while) [default: none]' -r
complete -c wsprobe -l close-code -d 'Close code wsprobe sends when it ends the run' -r
complete -c wsprobe -l close-reason -d 'Close reason wsprobe sends when it ends the run (at most 123 bytes)' -r
complete -c wsprobe -l expect-jq -d 'End once a received JSON message makes FILTER (jq) yield true; repeatable, matched in order together with --expect; non-JSON messages never match. Example: --expect-jq \'.type == "ack"\'' -r
complete -c wsprobe -l jq -d 'Print only FILTER\'s outputs (compact JSON, one line each) for each JSON message; other messages as usual. Example: --jq \'.data.price\'' -r
complete -c wsprobe -l fail-on -d 'End the run with exit 8 at the first received message matching REGEX; repeatable. Example: --fail-on \'"error"\'' -r
complete -c wsprobe -l fail-on-jq -d 'End the run with exit 8 at the first JSON message for which FILTER yields true; repeatable. Example: --fail-on-jq \'.type == "error"\'' -r
complete -c wsprobe -l reply -d 'Answer every received message matching REGEX with REPLY ($1..$9 and ${name} expand capture groups); repeatable, the first matching rule answers. Example: --reply \'^2$\' 3' -r
complete -c wsprobe -l exec -d 'Run `sh -c CMD` for each received message, with the payload on its stdin and WSPROBE_TYPE=text|binary (and WSPROBE_SEQ, the message\'s number) in its environment; what it prints is sent back as one message (text when the message was text and the output UTF-8). Runs until the server closes, like --echo. Example: --exec \'jq -c .data\'' -r
complete -c wsprobe -l exec-jobs -d 'How many --exec commands may run at once; their replies are still sent in the order the messages arrived' -r
complete -c wsprobe -l script -d 'Run the conversation script FILE (\'-\': read it from stdin): one step per line, in order, after the -x messages; an unmet step exits 6 naming its line. Example: --script login.ws' -r -F
complete -c wsprobe -l timestamps -d 'Prefix each output line with the time: local (HH:MM:SS.mmm) or relative (seconds since connect); in the REPL, sent messages get a stamped `>` line too. E.g. --timestamps=relative' -r -f -a "local\t''
relative\t''"
complete -c wsprobe -l record -d 'Also write the whole session to FILE as JSON lines (the --jsonl schema)' -r -F
complete -c wsprobe -l redact -d 'Also redact the query parameter or header NAME (repeatable; case-insensitive), e.g. --redact X-Tenant --redact room' -r
complete -c wsprobe -l max-display -d 'Show at most this many bytes of a binary message in the hexdump' -r
complete -c wsprobe -l color -d 'When to use colors (NO_COLOR is honoured by \'auto\')' -r -f -a "auto\t''
always\t''
never\t''"
complete -c wsprobe -l once -d 'With --listen: serve one client, then end with its outcome (the stop rule and exit codes of a client run: --expect, --count, a client\'s Close code)'
complete -c wsprobe -l tag -d 'With --listen, in pipe mode: start each line with the id of the client that sent it and a tab (`3<TAB>hello`); --jsonl has a `client` field instead'
complete -c wsprobe -s V -l version -d 'Print the version (with -v: also the TLS library)'
complete -c wsprobe -l no-proxy -d 'Ignore the proxy environment variables'
complete -c wsprobe -s L -l location -d 'Follow redirects (301, 302, 303, 307, 308) answered to the upgrade, as curl\'s -L/--location (websocat has none); Authorization and Cookie go only to the original scheme, host and port'
complete -c wsprobe -s 4 -l ipv4 -d 'Connect over IPv4 only (of the addresses the name resolves to)'
complete -c wsprobe -s 6 -l ipv6 -d 'Connect over IPv6 only (of the addresses the name resolves to)'
complete -c wsprobe -s k -l insecure -d 'Do not verify the server\'s certificate or hostname'
complete -c wsprobe -l proxy-insecure -d 'With an https:// proxy: do not verify the proxy\'s certificate or hostname (curl\'s flag)'
complete -c wsprobe -l binary -d 'Send messages as binary instead of text'
complete -c wsprobe -s 0 -l null -d 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL'
complete -c wsprobe -l echo -d 'Reply to every message received with the same payload and type, until the server closes'
complete -c wsprobe -l exec-strict -d 'A failing --exec command (non-zero exit, killed, output over --max-message-size) ends the run with exit 1 instead of a warning'
complete -c wsprobe -s q -l quiet -d 'Only message payloads on stdout; nothing on stderr but errors (no connecting line, hint or progress bar on a terminal)'
complete -c wsprobe -l jsonl -d 'Write every event (open, messages both ways, pings, close, error) as one JSON object per line'
complete -c wsprobe -l stats -d 'At the end of the run (also after a failure, a timeout or Ctrl-C, once connected), print statistics on stderr, even with -q: connection times (DNS, TCP, TLS, upgrade), time to the first message, data messages and bytes each way, and, when pings were sent (--ping-interval, /ping), round trips (min, median, p90, p99, max); with --jsonl or --record also a last `stats` event. Example: wsprobe URL -x hi --ping-interval 100ms --wait 2s --stats'
complete -c wsprobe -s v -l verbose -d 'Show the handshake on stderr: headers, certificate, timings (-vv: also every frame)'
complete -c wsprobe -l show-secrets -d 'Show credentials instead of <redacted>: URL passwords, query parameters such as token/api_key/signature, headers such as Authorization, Cookie, X-Api-Key, and bearer tokens offered as subprotocols'
complete -c wsprobe -l force -d 'Let --record overwrite an existing file (without it, an existing file is an error)'
complete -c wsprobe -s i -l interactive -d 'Open the interactive REPL even with -x (the -x messages are sent first)'
complete -c wsprobe -s P -l show-ping-pong -d 'Show pings and pongs in both directions (they are always answered)'
complete -c wsprobe -l no-pretty -d 'Show JSON messages as received instead of pretty-printed'
complete -c wsprobe -l no-history -d 'Do not read or write the history file ($XDG_STATE_HOME/wsprobe/history)'
complete -c wsprobe -s h -l help -d 'Print help (see more with \'--help\')'
