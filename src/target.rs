//! Turning what the user typed as a URL into the WebSocket endpoint to dial.
//!
//! Accepted forms: `ws://` and `wss://` URLs; `http://` and `https://` (mapped to
//! `ws://`/`wss://`, since that is what people copy from a browser); `host:port/path`
//! without a scheme (means `ws://`); `:port/path` (means `ws://localhost:port/path`).

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
    let shown = redact_userinfo(raw);
    let input = shown.as_str();
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the URL is empty".to_string());
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else if trimmed.starts_with(':') {
        format!("ws://localhost{trimmed}")
    } else {
        format!("ws://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| format!("invalid URL '{input}': {e}"))?;
    let tls = match url.scheme() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        other => {
            return Err(format!(
                "unsupported URL scheme '{other}' in '{input}' (use ws://, wss://, http:// or https://)"
            ))
        }
    };
    let scheme = if tls { "wss" } else { "ws" };
    if url.scheme() != scheme {
        // http(s) -> ws(s). `set_scheme` refuses to switch between "special" and
        // non-special schemes, so rebuild the URL from its string form instead.
        let rest = &with_scheme[with_scheme.find("://").map_or(0, |i| i + 3)..];
        url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| format!("invalid URL '{input}': {e}"))?;
    }
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
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
