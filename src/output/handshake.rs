//! `-v`: the upgrade request and response, written to stderr in curl's style
//! (`> ` sent, `< ` received, `* ` notes) so that stdout stays clean for pipes.

use colored::Colorize;
use std::io::{self, Write};

use crate::event::{HandshakeInfo, Redirect};
use crate::redact;

/// The path and query of a URL as shown (already redacted, so taken as text:
/// parsing it again would percent-encode `<redacted>`).
fn request_target(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let target = rest.find('/').map_or("", |i| &rest[i..]);
    let target = target.split('#').next().unwrap_or("");
    if target.is_empty() {
        "/"
    } else {
        target
    }
}

/// The request line and headers as sent; also shown alone when the upgrade fails.
pub fn write_request(
    out: &mut impl Write,
    info: &HandshakeInfo,
    show_secrets: bool,
) -> io::Result<()> {
    let path = request_target(&info.url);
    // With --listen the request is the one received.
    let mark = if info.listening { "<" } else { ">" };
    writeln!(out, "{}", format!("{mark} GET {path} HTTP/1.1").cyan())?;
    for (name, value) in &info.request_headers {
        let value = redact::header_value(name, value, show_secrets);
        writeln!(out, "{}", format!("{mark} {name}: {value}").cyan())?;
    }
    out.flush()
}

pub fn write_handshake(
    out: &mut impl Write,
    info: &HandshakeInfo,
    show_secrets: bool,
) -> io::Result<()> {
    let peer = info
        .peer
        .as_deref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    if let Some(proxy) = &info.proxy {
        note(out, format!("via proxy {proxy}"))?;
    }
    let connected = if info.listening {
        let client = info.peer.as_deref().unwrap_or("?");
        format!("client {client} connected to {}", info.url)
    } else {
        format!("connected to {}{peer}", info.url)
    };
    note(out, connected)?;
    if let Some(tls) = &info.tls {
        let alpn = tls
            .alpn
            .as_deref()
            .map_or_else(|| "no ALPN".to_string(), |p| format!("ALPN {p}"));
        note(out, format!("TLS: {} {}, {alpn}", tls.version, tls.cipher))?;
    }
    if let Some(cert) = &info.certificate {
        note(out, format!("certificate subject: {}", cert.subject))?;
        note(out, format!("certificate issuer:  {}", cert.issuer))?;
        note(
            out,
            format!(
                "certificate valid:   {} to {}",
                cert.not_before, cert.not_after
            ),
        )?;
        if !cert.alt_names.is_empty() {
            note(
                out,
                format!("certificate names:   {}", cert.alt_names.join(", ")),
            )?;
        }
    }
    write_request(out, info, show_secrets)?;
    let mark = if info.listening { ">" } else { "<" };
    writeln!(
        out,
        "{}",
        format!("{mark} HTTP/1.1 {} {}", info.status, info.reason).green()
    )?;
    for (name, value) in &info.response_headers {
        let value = redact::header_value(name, value, show_secrets);
        writeln!(out, "{}", format!("{mark} {name}: {value}").green())?;
    }
    let subprotocol = info.subprotocol.as_deref().unwrap_or("(none)");
    note(out, format!("subprotocol: {subprotocol}"))?;
    let extensions = info
        .response_headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, value)| value.as_str())
        .collect::<Vec<_>>();
    let extensions = if extensions.is_empty() {
        "(none)".to_string()
    } else {
        extensions.join(", ")
    };
    note(out, format!("extensions: {extensions}"))?;
    let offered = info
        .request_headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"));
    match &info.deflate {
        Some(agreed) => note(out, format!("permessage-deflate: {agreed}"))?,
        None if offered => note(
            out,
            "permessage-deflate: not negotiated (messages go uncompressed)".into(),
        )?,
        None => {}
    }
    if let Some(t) = &info.timings {
        let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let line = if info.listening {
            format!("timings: upgrade {}", ms(t.upgrade))
        } else {
            let tls = t
                .tls
                .map(|d| format!(", TLS {}", ms(d)))
                .unwrap_or_default();
            format!(
                "timings: DNS {}, TCP {}{tls}, upgrade {}, total {}",
                ms(t.dns),
                ms(t.tcp),
                ms(t.upgrade),
                ms(t.total)
            )
        };
        note(out, line)?;
    }
    out.flush()
}

/// `-L`: one note per redirect followed, and whether credentials stay behind.
pub fn write_redirect(out: &mut impl Write, hop: &Redirect) -> io::Result<()> {
    note(
        out,
        format!(
            "{} {} → {} (redirect {} of {})",
            hop.status, hop.reason, hop.location, hop.hop, hop.max
        ),
    )?;
    if hop.dropped_credentials {
        note(
            out,
            "not sending Authorization or Cookie on: another scheme, host or port than the original URL"
                .to_string(),
        )?;
    }
    out.flush()
}

/// A `* ` line: what wsprobe observed, as opposed to the bytes exchanged.
fn note(out: &mut impl Write, text: String) -> io::Result<()> {
    writeln!(out, "{}", format!("* {text}").dimmed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_with_secrets_redacted() {
        colored::control::set_override(false);
        let info = HandshakeInfo {
            url: "ws://h:1/p?q=1".into(),
            status: 101,
            reason: "Switching Protocols".into(),
            request_headers: vec![
                ("Host".into(), "h:1".into()),
                ("Authorization".into(), "Basic c2VjcmV0".into()),
            ],
            response_headers: vec![("Set-Cookie".into(), "sid=secret".into())],
            ..HandshakeInfo::default()
        };
        let mut out = Vec::new();
        write_handshake(&mut out, &info, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("> GET /p?q=1 HTTP/1.1\n"), "{text}");
        assert!(text.contains("> Host: h:1\n"), "{text}");
        assert!(text.contains("> Authorization: <redacted>\n"), "{text}");
        assert!(
            text.contains("< HTTP/1.1 101 Switching Protocols\n"),
            "{text}"
        );
        assert!(text.contains("< Set-Cookie: <redacted>\n"), "{text}");
        assert!(text.contains("* subprotocol: (none)\n"), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("c2VjcmV0"),
            "{text}"
        );
    }
}
