
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'wsprobe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'wsprobe'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'wsprobe' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Instead of connecting, serve clients on [ADDRESS:]PORT (a bare port means 127.0.0.1; 0 picks a free port, printed as `wsprobe: listening on ws://…`) or on the Unix socket unix:PATH: many at once, each with an id, stdin lines broadcast to all of them (see "Listening"); with --once (or --cert, --script, --reconnect), one client at a time, talked to like a server')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Instead of connecting, serve clients on [ADDRESS:]PORT (a bare port means 127.0.0.1; 0 picks a free port, printed as `wsprobe: listening on ws://…`) or on the Unix socket unix:PATH: many at once, each with an id, stdin lines broadcast to all of them (see "Listening"); with --once (or --cert, --script, --reconnect), one client at a time, talked to like a server')
            [CompletionResult]::new('--max-clients', '--max-clients', [CompletionResultType]::ParameterName, 'With --listen: serve at most N clients at once; more are accepted, then closed with 1013 "try again later" [default: no limit]')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'With --listen: accept only request paths that REGEX matches (e.g. ''^/chat$''); others get 404')
            [CompletionResult]::new('--server-header', '--server-header', [CompletionResultType]::ParameterName, 'With --listen: add a header to the 101 response (repeatable)')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Add a request header to the upgrade request (repeatable)')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Add a request header to the upgrade request (repeatable)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference; one name per flag)')
            [CompletionResult]::new('--subprotocol', '--subprotocol', [CompletionResultType]::ParameterName, 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference; one name per flag)')
            [CompletionResult]::new('--origin', '--origin', [CompletionResultType]::ParameterName, 'Send this Origin header [default: none]')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'HTTP Basic credentials (also taken from the URL: ws://user:pass@host/)')
            [CompletionResult]::new('--user-agent', '--user-agent', [CompletionResultType]::ParameterName, 'User-Agent header value')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long: DNS, TCP, proxy, TLS and the upgrade together, per attempt (exit 3)')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Connect through a proxy: http://[user:pass@]host:port (CONNECT), https:// (CONNECT inside TLS to the proxy), socks5:// or socks5h:// [default: from ws_proxy/wss_proxy, http_proxy/https_proxy, all_proxy]')
            [CompletionResult]::new('--resolve', '--resolve', [CompletionResultType]::ParameterName, 'Use these addresses for HOST:PORT instead of DNS (curl''s flag; repeatable). The Host header, TLS SNI and certificate check keep the URL''s name. Example: --resolve api.example.com:443:10.0.0.7')
            [CompletionResult]::new('--connect-to', '--connect-to', [CompletionResultType]::ParameterName, 'Connect to HOST2:PORT2 when the URL says HOST:PORT (curl''s flag; repeatable; empty fields match any / keep the URL''s). Host header, SNI and certificate check keep the URL''s name. Example: --connect-to api.example.com:443:staging.internal:8443')
            [CompletionResult]::new('--max-redirs', '--max-redirs', [CompletionResultType]::ParameterName, 'With -L: follow at most N redirects (curl''s flag; harmless without -L)')
            [CompletionResult]::new('--unix-socket', '--unix-socket', [CompletionResultType]::ParameterName, 'Connect to this Unix socket instead of the URL''s host and port (curl''s flag; websocat''s ws-u:unix:); the URL still gives the Host header, path and TLS (wss:// checks the URL''s host). A ws+unix:///run/app.sock:/path URL does the same')
            [CompletionResult]::new('--reconnect', '--reconnect', [CompletionResultType]::ParameterName, 'When the server closes or the connection drops, connect again (backoff 0.5s to 30s, at most N tries in a row, N at least 1; --reconnect alone: no limit) and re-send the -x messages; also retries the first connection')
            [CompletionResult]::new('--ping-interval', '--ping-interval', [CompletionResultType]::ParameterName, 'Send a keepalive ping this often (payload ''wsprobe-keepalive'') [default: never]')
            [CompletionResult]::new('--ping-timeout', '--ping-timeout', [CompletionResultType]::ParameterName, 'Exit 1 when a keepalive ping gets no pong within this long (needs --ping-interval) [default: no limit]')
            [CompletionResult]::new('--max-message-size', '--max-message-size', [CompletionResultType]::ParameterName, 'Largest message (and frame) accepted from the server, in bytes')
            [CompletionResult]::new('--deflate', '--deflate', [CompletionResultType]::ParameterName, 'Offer permessage-deflate compression (RFC 7692); alone it offers what browsers do (''client_max_window_bits''), =PARAMS offers those parameters, e.g. --deflate=''server_no_context_takeover; client_max_window_bits=10''. With --listen: accept a client''s offer (PARAMS: what to ask of it)')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM file (in addition to the system''s)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM, may include the chain); needs --key. With --listen: the server certificate (serves wss://)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key for --cert (PEM: PKCS#8, RSA or EC)')
            [CompletionResult]::new('--proxy-cacert', '--proxy-cacert', [CompletionResultType]::ParameterName, 'With an https:// proxy: trust the CA certificates in this PEM file for the proxy''s certificate (in addition to the system''s; curl''s flag)')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin, @@… a literal @…)')
            [CompletionResult]::new('--execute', '--execute', [CompletionResultType]::ParameterName, 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin, @@… a literal @…)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'End once N messages have been received (after the input is sent) [default: one per message sent]')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'End once N messages have been received (after the input is sent) [default: one per message sent]')
            [CompletionResult]::new('--expect', '--expect', [CompletionResultType]::ParameterName, 'End once a received message matches REGEX; repeatable, matched in order [default: none]')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'After the input ends, keep receiving for this long (''forever'': until the server closes) [default: until one reply per message]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'After the input ends, keep receiving for this long (''forever'': until the server closes) [default: until one reply per message]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Hard deadline for the whole run, every phase included (connecting, reconnecting, a stalled stdout, the close); reaching it exits 6 (use --wait to stop successfully after a while) [default: none]')
            [CompletionResult]::new('--close-code', '--close-code', [CompletionResultType]::ParameterName, 'Close code wsprobe sends when it ends the run')
            [CompletionResult]::new('--close-reason', '--close-reason', [CompletionResultType]::ParameterName, 'Close reason wsprobe sends when it ends the run (at most 123 bytes)')
            [CompletionResult]::new('--expect-jq', '--expect-jq', [CompletionResultType]::ParameterName, 'End once a received JSON message makes FILTER (jq) yield true; repeatable, matched in order together with --expect; non-JSON messages never match. Example: --expect-jq ''.type == "ack"''')
            [CompletionResult]::new('--jq', '--jq', [CompletionResultType]::ParameterName, 'Print only FILTER''s outputs (compact JSON, one line each) for each JSON message; other messages as usual. Example: --jq ''.data.price''')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'End the run with exit 8 at the first received message matching REGEX; repeatable. Example: --fail-on ''"error"''')
            [CompletionResult]::new('--fail-on-jq', '--fail-on-jq', [CompletionResultType]::ParameterName, 'End the run with exit 8 at the first JSON message for which FILTER yields true; repeatable. Example: --fail-on-jq ''.type == "error"''')
            [CompletionResult]::new('--reply', '--reply', [CompletionResultType]::ParameterName, 'Answer every received message matching REGEX with REPLY ($1..$9 and ${name} expand capture groups); repeatable, the first matching rule answers. Example: --reply ''^2$'' 3')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run `sh -c CMD` for each received message, with the payload on its stdin and WSPROBE_TYPE=text|binary (and WSPROBE_SEQ, the message''s number) in its environment; what it prints is sent back as one message (text when the message was text and the output UTF-8). Runs until the server closes, like --echo. Example: --exec ''jq -c .data''')
            [CompletionResult]::new('--exec-jobs', '--exec-jobs', [CompletionResultType]::ParameterName, 'How many --exec commands may run at once; their replies are still sent in the order the messages arrived')
            [CompletionResult]::new('--script', '--script', [CompletionResultType]::ParameterName, 'Run the conversation script FILE (''-'': read it from stdin): one step per line, in order, after the -x messages; an unmet step exits 6 naming its line. Example: --script login.ws')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Prefix each output line with the time: local (HH:MM:SS.mmm) or relative (seconds since connect); in the REPL, sent messages get a stamped `>` line too. E.g. --timestamps=relative')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Also write the whole session to FILE as JSON lines (the --jsonl schema)')
            [CompletionResult]::new('--redact', '--redact', [CompletionResultType]::ParameterName, 'Also redact the query parameter or header NAME (repeatable; case-insensitive), e.g. --redact X-Tenant --redact room')
            [CompletionResult]::new('--max-display', '--max-display', [CompletionResultType]::ParameterName, 'Show at most this many bytes of a binary message in the hexdump')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colors (NO_COLOR is honoured by ''auto'')')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'With --listen: serve one client, then end with its outcome (the stop rule and exit codes of a client run: --expect, --count, a client''s Close code)')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'With --listen, in pipe mode: start each line with the id of the client that sent it and a tab (`3<TAB>hello`); --jsonl has a `client` field instead')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print the version (with -v: also the TLS library)')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print the version (with -v: also the TLS library)')
            [CompletionResult]::new('--no-proxy', '--no-proxy', [CompletionResultType]::ParameterName, 'Ignore the proxy environment variables')
            [CompletionResult]::new('-L', '-L ', [CompletionResultType]::ParameterName, 'Follow redirects (301, 302, 303, 307, 308) answered to the upgrade, as curl''s -L/--location (websocat has none); Authorization and Cookie go only to the original scheme, host and port')
            [CompletionResult]::new('--location', '--location', [CompletionResultType]::ParameterName, 'Follow redirects (301, 302, 303, 307, 308) answered to the upgrade, as curl''s -L/--location (websocat has none); Authorization and Cookie go only to the original scheme, host and port')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Connect over IPv4 only (of the addresses the name resolves to)')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'Connect over IPv4 only (of the addresses the name resolves to)')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Connect over IPv6 only (of the addresses the name resolves to)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'Connect over IPv6 only (of the addresses the name resolves to)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate or hostname')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate or hostname')
            [CompletionResult]::new('--proxy-insecure', '--proxy-insecure', [CompletionResultType]::ParameterName, 'With an https:// proxy: do not verify the proxy''s certificate or hostname (curl''s flag)')
            [CompletionResult]::new('--binary', '--binary', [CompletionResultType]::ParameterName, 'Send messages as binary instead of text')
            [CompletionResult]::new('-0', '-0', [CompletionResultType]::ParameterName, 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL')
            [CompletionResult]::new('--null', '--null', [CompletionResultType]::ParameterName, 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL')
            [CompletionResult]::new('--echo', '--echo', [CompletionResultType]::ParameterName, 'Reply to every message received with the same payload and type, until the server closes')
            [CompletionResult]::new('--exec-strict', '--exec-strict', [CompletionResultType]::ParameterName, 'A failing --exec command (non-zero exit, killed, output over --max-message-size) ends the run with exit 1 instead of a warning')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only message payloads on stdout; nothing on stderr but errors (no connecting line, hint or progress bar on a terminal)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only message payloads on stdout; nothing on stderr but errors (no connecting line, hint or progress bar on a terminal)')
            [CompletionResult]::new('--jsonl', '--jsonl', [CompletionResultType]::ParameterName, 'Write every event (open, messages both ways, pings, close, error) as one JSON object per line')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'At the end of the run (also after a failure, a timeout or Ctrl-C, once connected), print statistics on stderr, even with -q: connection times (DNS, TCP, TLS, upgrade), time to the first message, data messages and bytes each way, and, when pings were sent (--ping-interval, /ping), round trips (min, median, p90, p99, max); with --jsonl or --record also a last `stats` event. Example: wsprobe URL -x hi --ping-interval 100ms --wait 2s --stats')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show the handshake on stderr: headers, certificate, timings (-vv: also every frame)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show the handshake on stderr: headers, certificate, timings (-vv: also every frame)')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Show credentials instead of <redacted>: URL passwords, query parameters such as token/api_key/signature, headers such as Authorization, Cookie, X-Api-Key, and bearer tokens offered as subprotocols')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Let --record overwrite an existing file (without it, an existing file is an error)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Open the interactive REPL even with -x (the -x messages are sent first)')
            [CompletionResult]::new('--interactive', '--interactive', [CompletionResultType]::ParameterName, 'Open the interactive REPL even with -x (the -x messages are sent first)')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'Show pings and pongs in both directions (they are always answered)')
            [CompletionResult]::new('--show-ping-pong', '--show-ping-pong', [CompletionResultType]::ParameterName, 'Show pings and pongs in both directions (they are always answered)')
            [CompletionResult]::new('--no-pretty', '--no-pretty', [CompletionResultType]::ParameterName, 'Show JSON messages as received instead of pretty-printed')
            [CompletionResult]::new('--no-history', '--no-history', [CompletionResultType]::ParameterName, 'Do not read or write the history file ($XDG_STATE_HOME/wsprobe/history)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
