//! The HTTP upgrade: building the request from the user's options, sending it, and
//! reading and checking the server's answer ourselves (with httparse, under the
//! dial's deadline); tungstenite then runs the WebSocket protocol on the stream.

use base64::Engine as _;
use std::borrow::Cow;
use std::io::{Read, Write};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;

use tungstenite::http::{HeaderName, HeaderValue};

use super::openssl_extras::TlsProblem;
use super::{Deadline, NetStream};
use crate::error::{Error, Result};
use crate::event::{HandshakeInfo, Rejection};
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
    /// `--deflate`: offer permessage-deflate with these parameters.
    pub deflate: Option<super::deflate::Params>,
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
    let mut request = target.url.as_str().into_client_request().map_err(|e| {
        Error::Usage(
            format!(
                "cannot build a request for {}: {e}",
                crate::redact::url(target.url.as_str())
            )
            .into(),
        )
    })?;
    let headers = request.headers_mut();
    let mut set = |name: &str, value: &str, replace: bool| -> Result<()> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Usage(format!("'{name}' is not a valid header name").into()))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::Usage(format!("the value of header '{name}' is not valid").into())
        })?;
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
    if let Some(offer) = &opts.deflate {
        set("Sec-WebSocket-Extensions", &offer.to_string(), true)?;
    }
    for (name, value) in &opts.headers {
        let lower = name.to_ascii_lowercase();
        let replace = GENERATED.contains(&lower.as_str())
            || matches!(lower.as_str(), "user-agent" | "origin" | "authorization");
        set(name, value, replace)?;
    }
    // The header map keeps names in lower case; the names as typed go along so
    // that they go on the wire (and into -v) as the user spelled them.
    let typed = Spellings(opts.headers.iter().map(|(name, _)| name.clone()).collect());
    request.extensions_mut().insert(typed);
    Ok(request)
}

/// Let redaction know this run's secrets (once: every attempt sends the same).
pub fn remember_secrets(target: &Target, opts: &UpgradeOptions, request: &Request) {
    let passwords: Vec<&str> = [&opts.auth, &target.userinfo]
        .into_iter()
        .flatten()
        .map(|(_, pass)| pass.as_str())
        .collect();
    crate::redact::remember_request(&target.url, &header_pairs(request.headers()), &passwords);
}

/// Header names as the user typed them with `-H`.
#[derive(Clone, Default)]
struct Spellings(Vec<String>);

/// The request's headers with their names as they go on the wire.
pub fn request_pairs(request: &Request) -> Vec<(String, String)> {
    let typed = request.extensions().get::<Spellings>();
    header_pairs(request.headers())
        .into_iter()
        .map(|(name, value)| (wire_name(&name, typed).into_owned(), value))
        .collect()
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

/// What the response to the upgrade said, owned (the parser borrows the buffer).
struct Response {
    status: u16,
    /// The reason phrase of the status line (may be empty).
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    /// Bytes of the status line and headers, up to the blank line.
    head_len: usize,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Every value of a header, split at commas (a list header may be repeated).
    fn list(&self, name: &str) -> Vec<String> {
        header_list(
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice()),
        )
    }

    /// Header names in lower case (as HTTP/2-style maps show them), values as text.
    fn pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }
}

/// A response head larger than this is not a WebSocket server's answer.
const MAX_HEAD: usize = 64 * 1024;
/// How much of a rejection's body is read to show its start.
const MAX_BODY: usize = Rejection::MAX_BODY;

/// Run the upgrade on a connected stream: send the request, read the response head
/// under the dial's deadline (each read gets only the time that is left, so a
/// server that drips its answer cannot stretch it), and check it. Returns the
/// bytes that followed the head (the first frames) and what was negotiated.
pub fn upgrade(
    stream: &mut NetStream,
    target: &Target,
    request: &Request,
    deflate: Option<&super::deflate::Params>,
    deadline: &Deadline,
) -> Result<(Vec<u8>, HandshakeInfo)> {
    let waiting = || {
        format!(
            "waiting for the upgrade response from {}",
            target.host_header()
        )
    };
    let io_error = |e: std::io::Error| {
        if deadline.passed()
            || matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        {
            deadline.expired(&waiting())
        } else {
            io_failure(target, e)
        }
    };
    stream
        .write_all(&request_bytes(request))
        .and_then(|_| stream.flush())
        .map_err(io_error)?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let response = loop {
        if !target.tls && looks_like_tls(&buf) {
            return Err(Error::Handshake(
                format!(
                    "the server answered with TLS, not HTTP: it expects wss:// ({})",
                    wss_url(target)
                )
                .into(),
            ));
        }
        if let Some(response) = parse_head(&buf)? {
            break response;
        }
        if buf.len() > MAX_HEAD {
            return Err(Error::Handshake(
                format!(
                    "the server's answer to the upgrade has no end of headers after {} KiB",
                    MAX_HEAD / 1024
                )
                .into(),
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(closed_early(target, buf.is_empty())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if buf.is_empty() && !target.tls && is_reset(&e) => {
                return Err(closed_early(target, true))
            }
            Err(e) => return Err(io_error(e)),
        }
    };
    if response.status != 101 {
        read_some_body(stream, &mut buf, &response, deadline);
        return Err(rejection(target, &response, &buf[response.head_len..]));
    }
    let info = check_switch(target, request, deflate, &response)?;
    buf.drain(..response.head_len);
    Ok((buf, info))
}

/// `GET /path HTTP/1.1` and the headers, as they go on the wire.
fn request_bytes(request: &Request) -> Vec<u8> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = format!("GET {path} HTTP/1.1\r\n").into_bytes();
    let typed = request.extensions().get::<Spellings>();
    for (name, value) in request.headers() {
        out.extend_from_slice(wire_name(name.as_str(), typed).as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The response head, once it is complete in `buf`.
fn parse_head(buf: &[u8]) -> Result<Option<Response>> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some(Response {
            status: parsed.code.unwrap_or(0),
            reason: parsed.reason.unwrap_or("").to_string(),
            headers: parsed
                .headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect(),
            head_len,
        })),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(Error::Handshake(
            format!(
                "the server's answer to the upgrade is not valid HTTP ({e}): {}",
                body_excerpt(buf, 80)
            )
            .into(),
        )),
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// A TLS record (handshake or alert, version 3.x) where HTTP was expected.
fn looks_like_tls(buf: &[u8]) -> bool {
    buf.len() >= 2 && matches!(buf[0], 0x15 | 0x16) && buf[1] == 0x03
}

fn wss_url(target: &Target) -> String {
    let mut url = target.url.clone();
    let _ = url.set_scheme("wss");
    url.to_string()
}

/// The connection ended before a complete answer.
fn closed_early(target: &Target, nothing: bool) -> Error {
    if target.tls {
        return Error::Tls(format!(
            "TLS: {} closed the connection right after the TLS handshake; if it requires a client certificate, use --cert FILE --key FILE",
            target.host_header()
        ).into());
    }
    if nothing {
        Error::Handshake(format!(
            "the server closed the connection without answering the upgrade (if this port speaks TLS, use {})",
            wss_url(target)
        ).into())
    } else {
        Error::Handshake(
            "the server closed the connection in the middle of its upgrade response".into(),
        )
    }
}

/// Read a little of a rejection's body when the server announced one, for the
/// message; bounded in size and by a short wait (the body is a courtesy).
fn read_some_body(
    stream: &mut NetStream,
    buf: &mut Vec<u8>,
    response: &Response,
    deadline: &Deadline,
) {
    let announced = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let wanted = response.head_len + announced;
    let until = deadline
        .at()
        .min(std::time::Instant::now() + std::time::Duration::from_millis(250));
    stream.set_deadline(Some(until));
    let mut chunk = [0u8; 1024];
    while buf.len() < wanted {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    stream.set_deadline(Some(deadline.at()));
}

/// A non-101 answer: the status, the Location of a redirect, the start of the body
/// and, below that one line, the response headers (credentials redacted).
fn rejection(target: &Target, response: &Response, body: &[u8]) -> Error {
    let reason = tungstenite::http::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let location = response.header("location");
    let mut message = match &location {
        // A redirect -L would follow: say where to, and how (as the URL it
        // resolves to, since a relative Location alone says little).
        Some(location) if super::redirect::FOLLOWED.contains(&response.status) => {
            let next = super::redirect::resolve(&target.url, location)
                .map_or_else(|_| location.clone(), |url| url.to_string());
            let next = crate::redact::url(&crate::redact::text(&next));
            format!(
                "the server answered HTTP {} {reason}, redirecting to {}; use -L to follow",
                response.status,
                crate::text::escape(&next)
            )
        }
        Some(location) => {
            let location = crate::redact::url(&crate::redact::text(location));
            format!(
                "the server rejected the WebSocket upgrade: HTTP {} {reason} (Location: {})",
                response.status,
                crate::text::escape(&location)
            )
        }
        None => format!(
            "the server rejected the WebSocket upgrade: HTTP {} {reason}",
            response.status
        ),
    };
    if !body.is_empty() {
        let excerpt = body_excerpt(body, 200);
        message.push_str(&format!(": {}", crate::redact::text(&excerpt)));
    }
    // The peer's free text may echo what was sent (a token in the body or in a
    // Location): cleaned of this run's secrets before anything shows it.
    let headers: Vec<(String, String)> = response
        .pairs()
        .into_iter()
        .map(|(name, value)| {
            let value = match name.as_str() {
                "location" | "content-location" => crate::redact::url(&value),
                _ => value,
            };
            let value = crate::redact::text(&value).into_owned();
            (name, value)
        })
        .collect();
    for (name, value) in &headers {
        let value = crate::redact::header_value(name, value, false);
        message.push_str(&format!("\n  < {name}: {}", crate::text::escape(&value)));
    }
    let rejection = Rejection {
        status: response.status,
        reason: if response.reason.is_empty() {
            reason.to_string()
        } else {
            response.reason.clone()
        },
        headers,
        body: crate::redact::text(&body_text(body, MAX_BODY)).into_owned(),
        at: std::time::SystemTime::now(),
        location,
    };
    Error::Handshake(message.into()).because(rejection)
}

/// The start of a body as text: at most `max` bytes, never ending in a cut
/// character, invalid UTF-8 replaced by U+FFFD.
fn body_text(body: &[u8], max: usize) -> String {
    let mut cut = &body[..body.len().min(max)];
    if cut.len() < body.len() {
        if let Err(e) = std::str::from_utf8(cut) {
            // A character cut in two at the bound is dropped, not replaced.
            if e.error_len().is_none() {
                cut = &cut[..e.valid_up_to()];
            }
        }
    }
    String::from_utf8_lossy(cut).into_owned()
}

/// Check a 101 as RFC 6455 §4.1 asks: the upgrade headers, the accept key, and no
/// subprotocol or extension that was not offered.
fn check_switch(
    target: &Target,
    request: &Request,
    deflate: Option<&super::deflate::Params>,
    response: &Response,
) -> Result<HandshakeInfo> {
    let invalid = |what: &str| Error::Handshake(format!("invalid upgrade response: {what}").into());
    if !response
        .header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
    {
        return Err(invalid("no 'Upgrade: websocket' header"));
    }
    if !response
        .list("connection")
        .iter()
        .any(|token| token.eq_ignore_ascii_case("upgrade"))
    {
        return Err(invalid("no 'Connection: Upgrade' header"));
    }
    let key = request
        .headers()
        .get("sec-websocket-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if response
        .header("sec-websocket-accept")
        .as_deref()
        .map(str::trim)
        != Some(tungstenite::handshake::derive_accept_key(key).as_str())
    {
        return Err(Error::Handshake(
            "the server's Sec-WebSocket-Accept does not match the key sent: not a WebSocket server, or a broken proxy".into(),
        ));
    }
    let subprotocol = check_subprotocol(request, response)?;
    let extensions: Vec<String> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    let agreed = match deflate {
        // A response the offer does not allow fails the connection (RFC 7692 §7).
        Some(offer) => super::deflate::params::check_response(offer, &extensions)
            .map_err(|e| Error::Handshake(e.into()))?
            .map(|(_, agreed)| agreed),
        None => {
            // Without --deflate nothing is offered: a server that turns an
            // extension on would send frames this client cannot read (RFC 6455
            // §9.1: the client must fail the connection).
            if let Some(extension) = response.list("sec-websocket-extensions").first() {
                return Err(Error::Handshake(format!(
                    "the server accepted the extension '{}', which was not offered (wsprobe offered no extensions; --deflate offers permessage-deflate)",
                    crate::text::escape(extension)
                ).into()));
            }
            None
        }
    };
    Ok(HandshakeInfo {
        url: crate::redact::url(target.url.as_str()),
        status: 101,
        reason: "Switching Protocols".to_string(),
        subprotocol: subprotocol.map(|p| crate::redact::subprotocols(&p).into_owned()),
        request_headers: request_pairs(request),
        response_headers: response.pairs(),
        at: std::time::SystemTime::now(),
        deflate: agreed,
        ..HandshakeInfo::default()
    })
}

/// The subprotocol the server chose, which must be one of those offered (and one
/// must be chosen when any was offered, as tungstenite also requires).
fn check_subprotocol(request: &Request, response: &Response) -> Result<Option<String>> {
    let offered = offered_subprotocols(request.headers());
    let subprotocol = response
        .header("sec-websocket-protocol")
        .map(|p| p.trim().to_string());
    match &subprotocol {
        Some(chosen) if offered.is_empty() => {
            return Err(Error::Handshake(format!(
                "the server selected the subprotocol '{}', but none was offered (use -s NAME to offer one)",
                crate::text::escape(chosen)
            ).into()))
        }
        Some(chosen) if !offered.contains(chosen) => {
            return Err(Error::Handshake(format!(
                "the server selected the subprotocol '{}', which was not offered (offered: {})",
                crate::text::escape(chosen),
                crate::redact::subprotocols(&offered.join(", "))
            ).into()))
        }
        None if !offered.is_empty() => {
            return Err(Error::Handshake(format!(
                "the server accepted none of the offered subprotocols ({})",
                crate::redact::subprotocols(&offered.join(", "))
            ).into()))
        }
        _ => {}
    }
    Ok(subprotocol)
}

/// The items of a list header (`a, b`), over all its values, trimmed, empty ones
/// dropped (RFC 9110 §5.6.1).
fn header_list<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|part| part.trim().to_string())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The subprotocols a request offers (`Sec-WebSocket-Protocol`), in order.
pub fn offered_subprotocols(headers: &tungstenite::http::HeaderMap) -> Vec<String> {
    header_list(
        headers
            .get_all("sec-websocket-protocol")
            .iter()
            .map(|v| v.as_bytes()),
    )
}

/// One header name as it goes on the wire: as the user typed it with `-H`, else
/// the usual spelling (`Sec-WebSocket-Key`, `User-Agent`: servers and proxies that
/// compare names case-sensitively expect the browser form).
fn wire_name<'a>(name: &'a str, typed: Option<&'a Spellings>) -> Cow<'a, str> {
    const CANONICAL: [&str; 5] = [
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "WWW-Authenticate",
    ];
    let typed = typed.map_or(&[][..], |t| t.0.as_slice());
    if let Some(spelled) = typed.iter().find(|t| t.eq_ignore_ascii_case(name)) {
        return Cow::Borrowed(spelled);
    }
    if let Some(canonical) = CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return Cow::Borrowed(canonical);
    }
    Cow::Owned(title_case(name))
}

/// `user-agent` → `User-Agent`.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// An I/O error while upgrading.
fn io_failure(target: &Target, io: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let error = match io.kind() {
        // Under TLS 1.3 the client's side of the handshake ends before the server
        // has checked it: a server that refuses the client (most often for a
        // missing certificate) sends an alert and closes, and depending on timing
        // the client sees the alert or only the reset. Either is a TLS failure.
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted if target.tls => {
            Error::Tls(format!(
                "TLS: {} closed the connection right after the TLS handshake ({}); if it requires a client certificate, use --cert FILE --key FILE",
                target.host_header(),
                super::tcp::plain_io_message(&io)
            ).into())
        }
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted => Error::Handshake(format!(
            "the server closed the connection during the upgrade ({})",
            super::tcp::plain_io_message(&io)
        ).into()),
        // Under TLS 1.3 a server's rejection (e.g. of a missing client
        // certificate) arrives as an alert on the first read after the handshake.
        _ if target.tls => match super::openssl_extras::classify(&io) {
            Some(TlsProblem::Alert {
                number,
                description,
            }) => Error::Tls(format!(
                "TLS: {} rejected the connection: {description}{}",
                target.host_header(),
                if TlsProblem::is_certificate_required(number) {
                    " (it requires a client certificate: use --cert FILE --key FILE)"
                } else {
                    ""
                }
            ).into()),
            _ => Error::Connect(format!(
                "I/O error during the upgrade: {}",
                super::tcp::plain_io_message(&io)
            ).into()),
        },
        _ => Error::Connect(format!(
            "I/O error during the upgrade: {}",
            super::tcp::plain_io_message(&io)
        ).into()),
    };
    error.because(io)
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
            deflate: Some(Default::default()),
        };
        let req = build_request(&target("wss://u:p@example.com/x?y=1"), &opts).unwrap();
        assert_eq!(req.uri().to_string(), "wss://example.com/x?y=1");
        assert_eq!(header(&req, "host"), ["example.com"]);
        assert_eq!(header(&req, "x-a"), ["1", "2"]);
        assert_eq!(header(&req, "sec-websocket-protocol"), ["chat, v2.json"]);
        assert_eq!(header(&req, "origin"), ["https://app.example"]);
        assert_eq!(
            header(&req, "sec-websocket-extensions"),
            ["permessage-deflate"]
        );
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
    fn body_text_is_bounded_and_never_ends_in_a_cut_character() {
        assert_eq!(body_text(b"denied\n", 4096), "denied\n");
        assert_eq!(body_text("aé".as_bytes(), 2), "a");
        assert_eq!(body_text(b"a\xffb", 4096), "a\u{fffd}b");
        assert_eq!(body_text(&[b'x'; 5000], 4096).len(), 4096);
    }

    #[test]
    fn a_rejection_carries_its_fields_as_the_cause() {
        use std::error::Error as _;
        let response = Response {
            status: 403,
            reason: "Nope".into(),
            headers: vec![("Set-Cookie".into(), b"s=1".to_vec())],
            head_len: 0,
        };
        let e = rejection(&target("ws://h/"), &response, b"go away");
        assert_eq!(e.exit_code(), crate::error::exit::HANDSHAKE);
        let r = e
            .source()
            .and_then(|s| s.downcast_ref::<Rejection>())
            .unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_str()),
            (403, "Nope", "go away")
        );
        assert_eq!(r.headers, [("set-cookie".to_string(), "s=1".to_string())]);
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
