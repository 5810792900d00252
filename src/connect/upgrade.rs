//! The HTTP upgrade: building the request from the user's options and checking the
//! server's answer.

use base64::Engine as _;
use std::io::{Read, Write};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{HandshakeError, WebSocket};

use crate::error::{Error, Result};
use crate::event::HandshakeInfo;
use crate::target::Target;

/// The handshake flags, as plain data.
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    pub headers: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    pub origin: Option<String>,
    /// `(user, password)` from `--auth` (wins over URL userinfo).
    pub auth: Option<(String, String)>,
    pub user_agent: String,
}

/// Headers that tungstenite writes itself; a user's `-H` replaces them rather than
/// adding a duplicate (which tungstenite would reject).
const GENERATED: [&str; 5] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-version",
    "sec-websocket-key",
];

pub fn build_request(target: &Target, opts: &UpgradeOptions) -> Result<Request> {
    let mut request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::Usage(format!("cannot build a request for {}: {e}", target.url)))?;
    let headers = request.headers_mut();
    let mut set = |name: &str, value: &str, replace: bool| -> Result<()> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Usage(format!("'{name}' is not a valid header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::Usage(format!("the value of header '{name}' is not valid")))?;
        if replace {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
        Ok(())
    };
    // tungstenite puts the port in Host even when it is the default; servers that
    // route on Host expect the browser form.
    set("Host", &target.host_header(), true)?;
    set("User-Agent", &opts.user_agent, true)?;
    if let Some(origin) = &opts.origin {
        set("Origin", origin, true)?;
    }
    let credentials = opts.auth.clone().or_else(|| target.userinfo.clone());
    if let Some((user, pass)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        set("Authorization", &format!("Basic {token}"), true)?;
    }
    if !opts.subprotocols.is_empty() {
        set(
            "Sec-WebSocket-Protocol",
            &opts.subprotocols.join(", "),
            true,
        )?;
    }
    for (name, value) in &opts.headers {
        let lower = name.to_ascii_lowercase();
        let replace = GENERATED.contains(&lower.as_str())
            || matches!(lower.as_str(), "user-agent" | "origin" | "authorization");
        set(name, value, replace)?;
    }
    Ok(request)
}

pub fn header_pairs(headers: &tungstenite::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Run the upgrade on a connected stream (blocking, with the connect deadline as
/// read/write timeouts).
pub fn upgrade<S: Read + Write>(
    stream: S,
    target: &Target,
    request: Request,
    config: WebSocketConfig,
) -> Result<(WebSocket<S>, HandshakeInfo)> {
    let request_headers = wire_names(header_pairs(request.headers()));
    let offered = request
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    match tungstenite::client::client_with_config(request, stream, Some(config)) {
        Ok((ws, response)) => {
            let subprotocol = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let info = HandshakeInfo {
                url: target.url.to_string(),
                status: response.status().as_u16(),
                reason: response
                    .status()
                    .canonical_reason()
                    .unwrap_or("")
                    .to_string(),
                subprotocol,
                request_headers,
                response_headers: header_pairs(response.headers()),
                at: std::time::SystemTime::now(),
                ..HandshakeInfo::default()
            };
            Ok((ws, info))
        }
        Err(HandshakeError::Interrupted(_)) => Err(Error::Connect(format!(
            "timed out waiting for the upgrade response from {} (--connect-timeout)",
            target.host_header()
        ))),
        Err(HandshakeError::Failure(e)) => Err(describe_failure(target, &offered, e)),
    }
}

/// Header names as tungstenite writes them on the wire (it title-cases the ones it
/// owns and a few that picky servers expect; the rest go out in lower case).
pub fn wire_names(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    const CANONICAL: [&str; 7] = [
        "Host",
        "Connection",
        "Upgrade",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Protocol",
        "Origin",
    ];
    headers
        .into_iter()
        .map(|(name, value)| {
            let shown = CANONICAL
                .iter()
                .find(|c| c.eq_ignore_ascii_case(&name))
                .map_or(name, |c| c.to_string());
            (shown, value)
        })
        .collect()
}

fn describe_failure(target: &Target, offered: &str, e: tungstenite::Error) -> Error {
    use tungstenite::error::ProtocolError as P;
    use tungstenite::error::SubProtocolError as S;
    use tungstenite::Error as E;
    match e {
        E::Http(response) => {
            let status = response.status();
            let mut message = format!(
                "the server rejected the WebSocket upgrade: HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            if let Some(location) = response.headers().get("location") {
                message.push_str(&format!(
                    " (Location: {})",
                    String::from_utf8_lossy(location.as_bytes())
                ));
            }
            if let Some(body) = response.body().as_deref().filter(|b| !b.is_empty()) {
                message.push_str(&format!(": {}", body_excerpt(body, 200)));
            }
            // The headers often explain a rejection (WWW-Authenticate, Retry-After):
            // shown below the one-line summary, credentials redacted.
            for (name, value) in header_pairs(response.headers()) {
                let value = crate::redact::header_value(&name, &value, false);
                message.push_str(&format!("\n  < {name}: {value}"));
            }
            Error::Handshake(message)
        }
        E::Protocol(P::SecWebSocketAcceptKeyMismatch) => Error::Handshake(
            "the server's Sec-WebSocket-Accept does not match the key sent: not a WebSocket server, or a broken proxy".into(),
        ),
        E::Protocol(P::SecWebSocketSubProtocolError(kind)) => Error::Handshake(match kind {
            S::ServerSentSubProtocolNoneRequested => {
                "the server selected a subprotocol, but none was offered (use -s NAME to offer one)".to_string()
            }
            S::InvalidSubProtocol => format!(
                "the server selected a subprotocol that was not offered (offered: {offered})"
            ),
            S::NoSubProtocol => format!(
                "the server accepted none of the offered subprotocols ({offered})"
            ),
        }),
        E::Protocol(p) => Error::Handshake(format!("invalid upgrade response: {p}")),
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Error::Connect(format!(
                    "timed out waiting for the upgrade response from {} (--connect-timeout)",
                    target.host_header()
                ))
            }
            // Under TLS 1.3 the client's side of the handshake ends before the
            // server has checked it: a server that refuses the client (most often
            // for a missing certificate) sends an alert and closes, and depending on
            // timing the client sees the alert or only the reset. Either is a TLS
            // failure, not an HTTP rejection.
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
                if target.tls =>
            {
                Error::Tls(format!(
                    "TLS: {} closed the connection right after the TLS handshake ({}); if it requires a client certificate, use --cert FILE --key FILE",
                    target.host_header(),
                    super::tcp::plain_io_message(&io)
                ))
            }
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted => Error::Handshake(format!(
                "the server closed the connection during the upgrade ({})",
                super::tcp::plain_io_message(&io)
            )),
            // Under TLS 1.3 a server's rejection (e.g. of a missing client
            // certificate) arrives as an alert on the first read after the handshake.
            _ if target.tls && io.to_string().contains("alert") => Error::Tls(format!(
                "TLS: {} rejected the connection: {}{}",
                target.host_header(),
                alert_text(&io.to_string()),
                if io.to_string().contains("certificate required") {
                    " (it requires a client certificate: use --cert FILE --key FILE)"
                } else {
                    ""
                }
            )),
            _ => Error::Connect(format!(
                "I/O error during the upgrade: {}",
                super::tcp::plain_io_message(&io)
            )),
        },
        E::Tls(t) => Error::Tls(format!("TLS error during the upgrade: {t}")),
        E::Url(u) => Error::Usage(format!("invalid URL: {u}")),
        other => Error::Handshake(format!("WebSocket upgrade failed: {other}")),
    }
}

/// `error:0A00045C:SSL routines:…:tlsv13 alert certificate required:…` -> the alert.
fn alert_text(text: &str) -> String {
    text.split(':')
        .find(|part| part.contains("alert"))
        .map(|part| part.trim().to_string())
        .unwrap_or_else(|| text.to_string())
}

/// The start of a response body, on one line, with control characters made visible.
fn body_excerpt(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    let text = String::from_utf8_lossy(cut);
    let mut out: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    if body.len() > max {
        out.push_str(&format!(" … ({} more bytes)", body.len() - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        crate::target::parse(url).unwrap()
    }

    fn header<'a>(req: &'a Request, name: &str) -> Vec<&'a str> {
        req.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn request_carries_the_options() {
        let opts = UpgradeOptions {
            headers: vec![("X-A".into(), "1".into()), ("X-A".into(), "2".into())],
            subprotocols: vec!["chat".into(), "v2.json".into()],
            origin: Some("https://app.example".into()),
            auth: None,
            user_agent: "ua/1".into(),
        };
        let req = build_request(&target("wss://u:p@example.com/x?y=1"), &opts).unwrap();
        assert_eq!(req.uri().to_string(), "wss://example.com/x?y=1");
        assert_eq!(header(&req, "host"), ["example.com"]);
        assert_eq!(header(&req, "x-a"), ["1", "2"]);
        assert_eq!(header(&req, "sec-websocket-protocol"), ["chat, v2.json"]);
        assert_eq!(header(&req, "origin"), ["https://app.example"]);
        assert_eq!(header(&req, "user-agent"), ["ua/1"]);
        assert_eq!(header(&req, "authorization"), ["Basic dTpw"]);
    }

    #[test]
    fn auth_flag_wins_and_user_headers_replace_generated_ones() {
        let opts = UpgradeOptions {
            headers: vec![("Host".into(), "other.example".into())],
            auth: Some(("a".into(), "b".into())),
            user_agent: "x".into(),
            ..Default::default()
        };
        let req = build_request(&target("ws://u:p@example.com:8080/"), &opts).unwrap();
        assert_eq!(header(&req, "host"), ["other.example"]);
        assert_eq!(header(&req, "authorization"), ["Basic YTpi"]);
    }

    #[test]
    fn body_excerpt_is_one_line_and_bounded() {
        assert_eq!(
            body_excerpt(b"  go away\r\nnow\x07 ", 200),
            "go away  now\u{fffd}"
        );
        assert_eq!(body_excerpt(b"abcdef", 3), "abc … (3 more bytes)");
    }
}
