
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
            cand -H 'Add a request header to the upgrade request (repeatable)'
            cand --header 'Add a request header to the upgrade request (repeatable)'
            cand -s 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference)'
            cand --subprotocol 'Offer a subprotocol in Sec-WebSocket-Protocol (repeatable, in order of preference)'
            cand --origin 'Send this Origin header [default: none]'
            cand --auth 'HTTP Basic credentials (also taken from the URL: ws://user:pass@host/)'
            cand --user-agent 'User-Agent header value'
            cand --connect-timeout 'Give up connecting after this long: DNS, TCP, TLS and the upgrade together'
            cand --max-message-size 'Largest message (and frame) accepted from the server, in bytes'
            cand --cacert 'Trust the CA certificates in this PEM file (in addition to the system''s)'
            cand --cert 'Client certificate (PEM, may include the chain); needs --key'
            cand --key 'Private key for --cert (PEM: PKCS#8 or RSA)'
            cand -x 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin)'
            cand --execute 'Send MSG right after connecting, before stdin (repeatable, in order; @FILE sends a file, @- all of stdin)'
            cand -n 'End once N messages have been received (after the input is sent) [default: one per message sent]'
            cand --count 'End once N messages have been received (after the input is sent) [default: one per message sent]'
            cand --expect 'End once a received message matches REGEX; repeatable, matched in order [default: none]'
            cand -w 'After the input ends, keep receiving for this long (''forever'': until the server closes) [default: until one reply per message]'
            cand --wait 'After the input ends, keep receiving for this long (''forever'': until the server closes) [default: until one reply per message]'
            cand --timeout 'Hard deadline for the whole run; exit 6 if --count/--expect is unmet by then [default: none]'
            cand --close-code 'Close code wsprobe sends when it ends the run'
            cand --close-reason 'Close reason wsprobe sends when it ends the run (at most 123 bytes)'
            cand --color 'When to use colors (NO_COLOR is honoured by ''auto'')'
            cand -k 'Do not verify the server''s certificate or hostname'
            cand --insecure 'Do not verify the server''s certificate or hostname'
            cand --binary 'Send messages as binary instead of text'
            cand -0 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL'
            cand --null 'Split stdin on NUL bytes instead of newlines, and end each output message with NUL'
            cand --echo 'Reply to every message received with the same payload and type, until the server closes'
            cand --jsonl 'Write every event (open, messages both ways, pings, close, error) as one JSON object per line'
            cand -v 'Show the upgrade request and response headers on stderr (-vv: more detail)'
            cand --verbose 'Show the upgrade request and response headers on stderr (-vv: more detail)'
            cand --show-secrets 'Show credentials (Authorization, Cookie, URL passwords) instead of <redacted>'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
