//! Reaching the server through a proxy: HTTP CONNECT (in the clear, or inside TLS
//! to an `https://` proxy), and SOCKS5 (RFC 1928, with RFC 1929 username/password),
//! chosen by `--proxy` or by the usual environment variables.

use base64::Engine as _;
use std::io::{Read, Write};
use std::net::IpAddr;

use super::{tcp, Deadline};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: an HTTP CONNECT tunnel.
    HttpConnect,
    /// `https://`: TLS to the proxy, then an HTTP CONNECT tunnel inside it.
    HttpsConnect,
    /// `socks5://` (names resolved by wsprobe) or `socks5h://` (by the proxy).
    Socks5 { remote_dns: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl Proxy {
    /// The proxy as shown to the user: scheme, host and port, never the password.
    pub fn display(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::HttpConnect => "http",
            ProxyKind::HttpsConnect => "https",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match &self.credentials {
            Some((user, _)) => format!(
                "{scheme}://{user}:{}@{host}:{}",
                crate::redact::REDACTED,
                self.port
            ),
            None => format!("{scheme}://{host}:{}", self.port),
        }
    }
}

/// Parse a proxy URL; a URL without a scheme means `http://`.
pub fn parse(raw: &str) -> std::result::Result<Proxy, String> {
    let shown = crate::target::redact_userinfo(raw);
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url =
        url::Url::parse(&with_scheme).map_err(|e| format!("invalid proxy URL '{shown}': {e}"))?;
    let (kind, default_port) = match url.scheme() {
        "http" => (ProxyKind::HttpConnect, 80),
        "https" => (ProxyKind::HttpsConnect, 443),
        "socks5" => (ProxyKind::Socks5 { remote_dns: false }, 1080),
        "socks5h" => (ProxyKind::Socks5 { remote_dns: true }, 1080),
        other => {
            return Err(format!(
                "unsupported proxy scheme '{other}' in '{shown}' (use http://, https://, socks5:// or socks5h://)"
            ))
        }
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        _ => return Err(format!("invalid proxy URL '{shown}': no host")),
    };
    let credentials = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        Some((
            crate::target::percent_decode(url.username()),
            crate::target::percent_decode(url.password().unwrap_or("")),
        ))
    };
    Ok(Proxy {
        kind,
        host,
        port: url.port().unwrap_or(default_port),
        credentials,
    })
}

/// The proxy the environment asks for, if any: `ws_proxy`/`wss_proxy` first (as
/// curl reads them), then `http_proxy`/`https_proxy`, then `all_proxy`; lower case
/// before upper case; skipped for hosts listed in `no_proxy`.
pub fn from_env(
    tls: bool,
    host: &str,
    env: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<Proxy>, String> {
    let names: [&str; 6] = if tls {
        [
            "wss_proxy",
            "WSS_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ]
    } else {
        [
            "ws_proxy",
            "WS_PROXY",
            "http_proxy",
            "HTTP_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ]
    };
    let Some((name, value)) = names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
    else {
        return Ok(None);
    };
    let no_proxy = env("no_proxy")
        .or_else(|| env("NO_PROXY"))
        .unwrap_or_default();
    if bypass(&no_proxy, host) {
        return Ok(None);
    }
    parse(value.trim())
        .map(Some)
        .map_err(|e| format!("{e} (from the environment variable {name})"))
}

/// Whether `no_proxy` exempts `host`: entries are host names (matching the host
/// or any subdomain, with or without a leading dot), IP addresses, or `*`.
pub fn bypass(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            // A port in the entry (`host:8080`) is ignored, as most tools do.
            let entry = match entry.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') && port.parse::<u16>().is_ok() => {
                    name.to_string()
                }
                _ => entry,
            };
            let entry = entry.trim_start_matches('[').trim_end_matches(']');
            // Addresses match exactly (as addresses: `::1` is `0:0:0:0:0:0:0:1`);
            // only names match as suffixes.
            match (entry.parse::<IpAddr>(), host.parse::<IpAddr>()) {
                (Ok(entry_ip), Ok(host_ip)) => entry_ip == host_ip,
                (Ok(_), Err(_)) | (Err(_), Ok(_)) => false,
                (Err(_), Err(_)) => {
                    let domain = entry.trim_start_matches('.');
                    host == domain || host.ends_with(&format!(".{domain}"))
                }
            }
        })
}

/// Open the tunnel to `host:port` over a connection to the proxy. The stream has
/// the connect deadline as its read and write timeouts.
pub fn tunnel(
    stream: &mut (impl Read + Write),
    proxy: &Proxy,
    host: &str,
    port: u16,
    deadline: &Deadline,
) -> Result<()> {
    let result = match proxy.kind {
        ProxyKind::HttpConnect | ProxyKind::HttpsConnect => http_connect(stream, proxy, host, port),
        ProxyKind::Socks5 { remote_dns } => socks5(stream, proxy, host, port, remote_dns, deadline),
    };
    result.map_err(|e| match e {
        Failure::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            deadline.expired(&format!("waiting for the proxy {}", proxy.display()))
        }
        Failure::Io(e) => Error::Connect(
            format!(
                "the proxy {} failed: {}",
                proxy.display(),
                tcp::plain_io_message(&e)
            )
            .into(),
        ),
        Failure::Refused(why) => Error::Connect(
            format!(
                "the proxy {} refused the tunnel to {host}:{port}: {why}",
                proxy.display()
            )
            .into(),
        ),
        Failure::Other(error) => error,
    })
}

enum Failure {
    Io(std::io::Error),
    Refused(String),
    Other(Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn http_connect(
    stream: &mut (impl Read + Write),
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> std::result::Result<(), Failure> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, pass)) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    // Read the response head one byte at a time: whatever follows it belongs to
    // the tunnel (the server's TLS or HTTP bytes) and must stay in the socket.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(Failure::Refused(
                "it closed the connection without answering".into(),
            ));
        }
        head.push(byte[0]);
        if head.len() > 16 * 1024 {
            return Err(Failure::Refused("its answer is not HTTP".into()));
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or("").trim();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(_) => Err(Failure::Refused(format!(
            "HTTP {}",
            status_line
                .split_once(' ')
                .map_or(status_line, |(_, rest)| rest)
        ))),
        None => Err(Failure::Refused(format!(
            "its answer is not HTTP: '{status_line}'"
        ))),
    }
}

/// RFC 1928: agree on how to authenticate, ask for a CONNECT to `host:port`, and
/// read the reply; after it, the connection is the tunnel.
fn socks5(
    stream: &mut (impl Read + Write),
    proxy: &Proxy,
    host: &str,
    port: u16,
    remote_dns: bool,
    deadline: &Deadline,
) -> std::result::Result<(), Failure> {
    socks5_greet(stream, proxy)?;
    let request = socks5_connect_request(host, port, remote_dns, deadline)?;
    stream.write_all(&request)?;
    socks5_read_reply(stream)
}

/// Offer "no authentication", and username/password when the proxy URL has
/// credentials; authenticate if the proxy picks the latter.
fn socks5_greet(
    stream: &mut (impl Read + Write),
    proxy: &Proxy,
) -> std::result::Result<(), Failure> {
    let methods: &[u8] = if proxy.credentials.is_some() {
        &[0x00, 0x02]
    } else {
        &[0x00]
    };
    let mut greeting = vec![0x05, methods.len() as u8];
    greeting.extend_from_slice(methods);
    stream.write_all(&greeting)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice)?;
    if choice[0] != 0x05 {
        return Err(Failure::Refused("it does not speak SOCKS5".into()));
    }
    match choice[1] {
        0x00 => Ok(()),
        0x02 => {
            let Some((user, pass)) = &proxy.credentials else {
                return Err(Failure::Refused(
                    "it asks for a username and password (put them in the proxy URL)".into(),
                ));
            };
            socks5_authenticate(stream, user, pass)
        }
        0xFF => Err(Failure::Refused(
            "none of the offered authentication methods is acceptable".into(),
        )),
        other => Err(Failure::Refused(format!(
            "it chose an authentication method wsprobe did not offer ({other:#04x})"
        ))),
    }
}

/// RFC 1929 username/password authentication.
fn socks5_authenticate(
    stream: &mut (impl Read + Write),
    user: &str,
    pass: &str,
) -> std::result::Result<(), Failure> {
    if user.len() > 255 || pass.len() > 255 {
        return Err(Failure::Refused(
            "SOCKS5 credentials are limited to 255 bytes each".into(),
        ));
    }
    let mut auth = vec![0x01, user.len() as u8];
    auth.extend_from_slice(user.as_bytes());
    auth.push(pass.len() as u8);
    auth.extend_from_slice(pass.as_bytes());
    stream.write_all(&auth)?;
    let mut status = [0u8; 2];
    stream.read_exact(&mut status)?;
    if status[1] != 0x00 {
        return Err(Failure::Refused(
            "it rejected the username and password".into(),
        ));
    }
    Ok(())
}

/// The CONNECT request for `host:port`: by address, or by name with `socks5h://`
/// (the proxy resolves it); with `socks5://` wsprobe resolves the name itself.
fn socks5_connect_request(
    host: &str,
    port: u16,
    remote_dns: bool,
    deadline: &Deadline,
) -> std::result::Result<Vec<u8>, Failure> {
    let mut request = vec![0x05, 0x01, 0x00];
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) if remote_dns => None,
        Err(_) => Some(
            tcp::resolve(host, port, deadline)
                .map_err(Failure::Other)?
                .first()
                .map(|a| a.ip())
                .ok_or_else(|| Failure::Refused(format!("'{host}' has no address")))?,
        ),
    };
    match ip {
        Some(IpAddr::V4(v4)) => {
            request.push(0x01);
            request.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            request.push(0x04);
            request.extend_from_slice(&v6.octets());
        }
        None => {
            if host.len() > 255 {
                return Err(Failure::Refused(
                    "the host name is too long for SOCKS5".into(),
                ));
            }
            request.push(0x03);
            request.push(host.len() as u8);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// Read the reply to CONNECT to its end (the address the proxy bound, which
/// wsprobe has no use for): the bytes after it belong to the tunnel.
fn socks5_read_reply(stream: &mut impl Read) -> std::result::Result<(), Failure> {
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply)?;
    if reply[1] != 0x00 {
        return Err(Failure::Refused(socks_reply(reply[1])));
    }
    let address_len = match reply[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len)?;
            len[0] as usize
        }
        other => {
            return Err(Failure::Refused(format!(
                "its reply has an unknown address type {other:#04x}"
            )))
        }
    };
    let mut bound = vec![0u8; address_len + 2];
    stream.read_exact(&mut bound)?;
    Ok(())
}

/// What a failed SOCKS5 reply code means.
fn socks_reply(code: u8) -> String {
    let what = match code {
        0x01 => "general failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unknown error",
    };
    format!("SOCKS5 reply {code:#04x} ({what})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = parse("http://u:p%40ss@proxy.local:3128").unwrap();
        assert_eq!(p.kind, ProxyKind::HttpConnect);
        assert_eq!((p.host.as_str(), p.port), ("proxy.local", 3128));
        assert_eq!(p.credentials, Some(("u".into(), "p@ss".into())));
        assert_eq!(p.display(), "http://u:<redacted>@proxy.local:3128");
        let p = parse("proxy.local").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::HttpConnect, 80));
        let p = parse("https://u:pw@proxy.local").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::HttpsConnect, 443));
        assert_eq!(p.display(), "https://u:<redacted>@proxy.local:443");
        let p = parse("socks5h://[::1]:1080").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5 { remote_dns: true });
        assert_eq!(p.display(), "socks5h://[::1]:1080");
        assert_eq!(parse("socks5://h").unwrap().port, 1080);
        let e = parse("ftp://u:secret@h").unwrap_err();
        assert!(e.contains("unsupported proxy scheme 'ftp'"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(parse("http://").is_err());
    }

    #[test]
    fn environment_choice() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let host = |p: Option<Proxy>| p.map(|p| p.host);
        let vars: &[(&str, &str)] = &[("http_proxy", "h1:1"), ("https_proxy", "h2:2")];
        assert_eq!(
            host(from_env(false, "x", env(vars)).unwrap()).as_deref(),
            Some("h1")
        );
        assert_eq!(
            host(from_env(true, "x", env(vars)).unwrap()).as_deref(),
            Some("h2")
        );
        let vars: &[(&str, &str)] = &[("HTTP_PROXY", "h1:1"), ("ws_proxy", "h3:3")];
        assert_eq!(
            host(from_env(false, "x", env(vars)).unwrap()).as_deref(),
            Some("h3")
        );
        let vars: &[(&str, &str)] = &[("ALL_PROXY", "socks5://h4:4")];
        assert_eq!(
            host(from_env(true, "x", env(vars)).unwrap()).as_deref(),
            Some("h4")
        );
        let vars: &[(&str, &str)] = &[("http_proxy", "h1:1"), ("NO_PROXY", "x,y")];
        assert_eq!(from_env(false, "x", env(vars)).unwrap(), None);
        assert_eq!(from_env(false, "x", env(&[])).unwrap(), None);
        let vars: &[(&str, &str)] = &[("http_proxy", "gopher://h")];
        let e = from_env(false, "x", env(vars)).unwrap_err();
        assert!(e.contains("http_proxy"), "{e}");
    }

    #[test]
    fn no_proxy_matching() {
        assert!(bypass("*", "anything"));
        assert!(bypass("example.com", "example.com"));
        assert!(bypass("example.com", "a.example.com"));
        assert!(bypass(".example.com", "a.b.example.com"));
        assert!(bypass(" other , Example.COM:8080", "example.com"));
        assert!(!bypass("example.com", "badexample.com"));
        assert!(bypass("127.0.0.1", "127.0.0.1"));
        assert!(!bypass("127.0.0.1", "127.0.0.2"));
        assert!(bypass("::1", "::1"));
        assert!(bypass("[::1]", "::1"));
        assert!(bypass("0:0:0:0:0:0:0:1", "::1"));
        assert!(
            !bypass(".0.0.1", "127.0.0.1"),
            "no suffix matching for addresses"
        );
        assert!(!bypass("0.0.1", "127.0.0.1"));
        assert!(!bypass("", "example.com"));
    }
}
