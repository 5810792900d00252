//! A WebSocket client (tungstenite) for the tests of `--listen`: connects to
//! a `ws://` or `wss://` URL (any certificate accepted) and reads to the end
//! of the close handshake.

use std::net::TcpStream;
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::{HandshakeError, Message, WebSocket};

use super::Stream;

/// A client connection.
pub type Client = WebSocket<Box<dyn Stream>>;

/// Why a client could not connect.
#[derive(Debug)]
pub enum ClientError {
    /// The server answered the upgrade with this HTTP status.
    Refused(u16),
    /// Anything else, described.
    Failed(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Refused(status) => write!(f, "refused with HTTP {status}"),
            ClientError::Failed(why) => f.write_str(why),
        }
    }
}

/// Connects to `url`, offering `subprotocols` (a header value) if given.
pub fn try_ws_client(url: &str, subprotocols: Option<&str>) -> Result<Client, ClientError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| ClientError::Failed(format!("{what}: {e}"));
    let mut request = url.into_client_request().map_err(|e| fail("request", &e))?;
    if let Some(p) = subprotocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port)).map_err(|e| fail("connect", &e))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| fail("socket", &e))?;
    let stream: Box<dyn Stream> = if uri.scheme_str() == Some("wss") {
        let connector = native_tls::TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| fail("TLS", &e))?;
        Box::new(connector.connect(host, tcp).map_err(|e| fail("TLS", &e))?)
    } else {
        Box::new(tcp)
    };
    match tungstenite::client(request, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(ClientError::Refused(response.status().as_u16()))
        }
        Err(e) => Err(fail("upgrade", &e)),
    }
}

/// Connects to `url`; panics if it cannot.
#[track_caller]
pub fn ws_client(url: &str, subprotocols: Option<&str>) -> Client {
    match try_ws_client(url, subprotocols) {
        Ok(ws) => ws,
        Err(e) => panic!("could not connect to {url}: {e}"),
    }
}

/// Reads until the connection ends (the close handshake done, or an
/// error); returns the text messages received and the close code of the
/// Close frame received, if any.
pub fn read_to_end(ws: &mut Client) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    let mut code = None;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => texts.push(t.to_string()),
            Ok(Message::Close(frame)) => code = frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return (texts, code),
        }
    }
}
