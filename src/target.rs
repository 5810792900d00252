//! Turning what the user typed as a URL into the WebSocket endpoint to dial.
//!
//! Accepted forms: `ws://` and `wss://` URLs; `http://` and `https://` (mapped to
//! `ws://`/`wss://`, since that is what people copy from a browser); `host:port/path`
//! without a scheme (means `ws://`); `:port/path` (means `ws://localhost:port/path`);
//! `ws+unix:///run/app.sock:/path` and `wss+unix://…` as Node's `ws` writes them (a
//! Unix socket, then the request path; the Host header is `localhost`).

use std::path::PathBuf;

use url::{Host, Url};

/// A parsed endpoint. Credentials from the URL are split off so that the URL itself
/// can be shown and sent (as `Host`/path) without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ws://` or `wss://` URL without userinfo and fragment.
    pub url: Url,
    /// True for `wss://`.
    pub tls: bool,
    /// The host to resolve and to check the certificate against (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// `user:password` taken from the URL, if any (percent-decoded).
    pub userinfo: Option<(String, String)>,
    /// Connect to this Unix socket instead of `host:port` (`ws+unix://`, or
    /// `--unix-socket`); the URL still gives the Host header, path and TLS.
    pub unix: Option<PathBuf>,
}

impl Target {
    /// The value of the `Host` header: host, plus the port when it is not the default.
    pub fn host_header(&self) -> String {
        let host = match self.url.host() {
            Some(Host::Ipv6(addr)) => format!("[{addr}]"),
            _ => self.host.clone(),
        };
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }
}

/// Parse a user-supplied URL. The error is a complete one-line message.
pub fn parse(raw: &str) -> Result<Target, String> {
    // Error messages quote the URL: never with its password.
    let shown = crate::redact::url(raw);
    let input = shown.as_str();
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the URL is empty".to_string());
    }
    let (scheme, rest) = match split_scheme(trimmed) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws+unix") => {
            return unix_url(&rest, false, input)
        }
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("wss+unix") => {
            return unix_url(&rest, true, input)
        }
        Some(parts) => parts,
        None if trimmed.starts_with(':') => ("ws", format!("localhost{trimmed}")),
        None => match local_port(trimmed) {
            Some(port) => ("ws", format!("localhost:{}", port?)),
            None => ("ws", trimmed.to_string()),
        },
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        other => {
            return Err(format!(
                "unsupported URL scheme '{other}' in '{input}' (use ws://, wss://, http://, https:// or ws+unix://)"
            ))
        }
    };
    // The url crate skips extra slashes after a special scheme (`ws:///path` is
    // `ws://path/`) and reads `ws://:80` as having an empty host: look at the
    // authority as typed.
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let host_and_port = &authority[authority.rfind('@').map_or(0, |i| i + 1)..];
    if host_and_port.is_empty() || host_and_port.starts_with(':') {
        return Err(format!("invalid URL '{input}': no host"));
    }
    // http(s) -> ws(s): `Url::set_scheme` refuses to switch between them, so the
    // URL is built with the WebSocket scheme from the start.
    let ws_scheme = if tls { "wss" } else { "ws" };
    let mut url = Url::parse(&format!("{ws_scheme}://{rest}"))
        .map_err(|e| format!("invalid URL '{input}': {e}"))?;
    let host = match url.host() {
        Some(Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(Host::Ipv4(a)) => a.to_string(),
        Some(Host::Ipv6(a)) => a.to_string(),
        _ => return Err(format!("invalid URL '{input}': no host")),
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let userinfo = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        let user = percent_decode(url.username());
        let pass = percent_decode(url.password().unwrap_or(""));
        Some((user, pass))
    };
    // Neither credentials nor the fragment go on the wire in the URL.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    Ok(Target {
        url,
        tls,
        host,
        port,
        userinfo,
        unix: None,
    })
}

/// `ws+unix://` after the scheme: the socket path up to the first `:`, then the
/// request path (default `/`), as Node's `ws` splits it. A socket path cannot
/// hold a `:` in this form; `--unix-socket` takes any path.
fn unix_url(rest: &str, tls: bool, input: &str) -> Result<Target, String> {
    let (socket, request) = rest.split_once(':').unwrap_or((rest, "/"));
    if socket.is_empty() {
        return Err(format!(
            "invalid URL '{input}': no socket path (expected ws+unix:///path/to.sock:/request/path)"
        ));
    }
    let slash = if request.starts_with('/') { "" } else { "/" };
    let mut target = parse(&format!(
        "{}://localhost{slash}{request}",
        if tls { "wss" } else { "ws" }
    ))
    .map_err(|_| format!("invalid URL '{input}': bad request path '{request}'"))?;
    target.unix = Some(PathBuf::from(socket));
    Ok(target)
}

/// `scheme://rest` -> `(scheme, rest)`, when what comes before `://` is a scheme
/// (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`). Otherwise the input has
/// no scheme, even with a `://` further on (`host/cb?next=http://x`).
fn split_scheme(s: &str) -> Option<(&str, String)> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| (scheme, rest.to_string()))
}

/// A scheme-less URL whose host is only digits (`9001`, `9001/chat`) names a local
/// port, like `:9001` (and like `--listen 9001`), rather than the IPv4 address that
/// number would spell. `None` when the host is not all digits; `Some(Err)` for a
/// number that is not a port.
fn local_port(s: &str) -> Option<Result<String, String>> {
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    let (digits, path) = s.split_at(end);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(format!("{port}{path}")),
        _ => Err(format!(
            "invalid URL '{s}': a bare number means a local port (like :PORT), from 1 to 65535"
        )),
    })
}

/// `ws://user:secret@host/` -> `ws://user:<redacted>@host/`.
pub fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return redact_authority(url, 0);
    };
    redact_authority(url, scheme_end)
}

fn redact_authority(url: &str, start: usize) -> String {
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:{}{}",
            &url[..start],
            &authority[..colon],
            crate::redact::REDACTED,
            &url[start + at..]
        ),
        _ => url.to_string(),
    }
}

/// `%40` -> `@`; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode_even_at_the_end() {
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("p%40"), "p@");
    }

    fn url(s: &str) -> String {
        parse(s).map(|t| t.url.to_string()).unwrap_or_else(|e| e)
    }

    #[test]
    fn schemes_are_normalised() {
        assert_eq!(url("ws://example.com/chat"), "ws://example.com/chat");
        assert_eq!(url("wss://example.com"), "wss://example.com/");
        assert_eq!(url("http://example.com/x?y=1"), "ws://example.com/x?y=1");
        assert_eq!(url("https://example.com:8443/"), "wss://example.com:8443/");
        assert_eq!(url("HTTP://Example.COM/"), "ws://example.com/");
    }

    #[test]
    fn scheme_less_forms() {
        assert_eq!(url("example.com:9000/ws"), "ws://example.com:9000/ws");
        assert_eq!(url("localhost"), "ws://localhost/");
        assert_eq!(url(":8080/path"), "ws://localhost:8080/path");
        assert_eq!(url(":8080"), "ws://localhost:8080/");
    }

    #[test]
    fn ipv6_literals() {
        let t = parse("ws://[::1]:9000/").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, 9000);
        assert_eq!(t.host_header(), "[::1]:9000");
    }

    #[test]
    fn default_ports_and_host_header() {
        let t = parse("wss://example.com/a").unwrap();
        assert_eq!((t.port, t.tls), (443, true));
        assert_eq!(t.host_header(), "example.com");
        let t = parse("ws://example.com:80/a").unwrap();
        assert_eq!(t.port, 80);
        assert_eq!(t.host_header(), "example.com");
        let t = parse("ws://example.com:81/a?b=c#frag").unwrap();
        assert_eq!(t.host_header(), "example.com:81");
        assert_eq!(t.url.as_str(), "ws://example.com:81/a?b=c");
    }

    #[test]
    fn userinfo_is_split_off() {
        let t = parse("wss://al%40ice:s3cr%3At@example.com/").unwrap();
        assert_eq!(
            t.userinfo,
            Some(("al@ice".to_string(), "s3cr:t".to_string()))
        );
        assert_eq!(t.url.as_str(), "wss://example.com/");
    }

    #[test]
    fn passwords_never_appear_in_errors() {
        assert_eq!(
            redact_userinfo("ws://bob:s3cret@h:1/p@x"),
            "ws://bob:<redacted>@h:1/p@x"
        );
        assert_eq!(redact_userinfo("bob:s3cret@h/x"), "bob:<redacted>@h/x");
        assert_eq!(redact_userinfo("ws://h:1/a:b@c"), "ws://h:1/a:b@c");
        let e = parse("ftp://bob:s3cret@example.com/").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        let e = parse("ws://bob:s3cret@/").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn bare_number_is_a_local_port() {
        assert_eq!(url("9001"), "ws://localhost:9001/");
        assert_eq!(url("1"), "ws://localhost:1/");
        assert_eq!(url("65535"), "ws://localhost:65535/");
        assert_eq!(url("09001"), "ws://localhost:9001/");
        assert_eq!(url(" 9001 "), "ws://localhost:9001/");
        assert_eq!(url("9001/chat?x=1"), "ws://localhost:9001/chat?x=1");
        let t = parse("9001").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("localhost", 9001, false));
        assert_eq!(t.host_header(), "localhost:9001");
        // With a scheme, a number is still a host (the url crate's IPv4 forms).
        assert_eq!(url("ws://9001/"), "ws://0.0.35.41/");
        for bad in [
            "0",
            "65536",
            "99999",
            "123456789012345678901234567890",
            "0/x",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "invalid URL '{bad}': a bare number means a local port (like :PORT), from 1 to 65535"
                )
            );
        }
    }

    #[test]
    fn empty_host_is_rejected() {
        for bad in [
            "ws:///path",
            "ws:///",
            "wss:///",
            "http:///a",
            "HTTPS:///a",
            "ws:////x",
            "ws://?q",
            "ws://#f",
            "ws://\\x",
            "ws://",
            "http://:80",
            "ws://:80/x",
            "ws://user@/x",
        ] {
            assert_eq!(
                parse(bad),
                Err(format!("invalid URL '{bad}': no host")),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse("ws://bob:s3cret@/"),
            Err("invalid URL 'ws://bob:<redacted>@/': no host".to_string())
        );
        // `:PORT` without a scheme still means localhost.
        assert_eq!(url(":81/x"), "ws://localhost:81/x");
    }

    #[test]
    fn scheme_is_only_what_can_be_a_scheme() {
        // A `://` in the query does not make the part before it a scheme.
        assert_eq!(
            url("example.com/cb?next=http://x/"),
            "ws://example.com/cb?next=http://x/"
        );
        assert_eq!(
            url("ws+x://h/"),
            "unsupported URL scheme 'ws+x' in 'ws+x://h/' (use ws://, wss://, http://, https:// or ws+unix://)"
        );
    }

    #[test]
    fn unix_urls_as_node_ws_writes_them() {
        let t = parse("ws+unix:///run/app.sock:/chat?room=1").unwrap();
        assert_eq!(t.unix, Some(PathBuf::from("/run/app.sock")));
        assert_eq!(t.url.as_str(), "ws://localhost/chat?room=1");
        assert_eq!((t.host_header(), t.tls), ("localhost".to_string(), false));
        let t = parse("WS+UNIX://./rel.sock").unwrap();
        assert_eq!(t.unix, Some(PathBuf::from("./rel.sock")));
        assert_eq!(t.url.as_str(), "ws://localhost/");
        let t = parse("wss+unix:///s:x").unwrap();
        assert_eq!((t.url.as_str(), t.tls), ("wss://localhost/x", true));
        assert!(parse("ws+unix://:/x")
            .unwrap_err()
            .contains("no socket path"));
        assert_eq!(parse("ws://h/").unwrap().unix, None);
    }

    #[test]
    fn bad_urls_are_rejected() {
        for bad in [
            "",
            "ftp://example.com",
            "ws://",
            "http://:80",
            "ws://exa mple.com",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let e = parse("ftp://x").unwrap_err();
        assert!(e.contains("unsupported URL scheme 'ftp'"), "{e}");
    }
}
