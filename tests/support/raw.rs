//! Raw TCP servers for misbehaving peers ([`RawServer`]): reading an HTTP
//! request head, hand-made answers and frames, resets, closed ports.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use super::{loopback, serve, Served};

/// An HTTP request head read by a raw server.
#[derive(Debug, Default, Clone)]
pub struct RawRequest {
    pub request_line: String,
    /// Names in lower case (compare them as HTTP does).
    pub headers: Vec<(String, String)>,
    /// The header names as they were on the wire.
    pub spelled: Vec<String>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Sec-WebSocket-Accept` value a correct server would answer with.
    pub fn accept_key(&self) -> String {
        tungstenite::handshake::derive_accept_key(
            self.header("sec-websocket-key").unwrap_or("").as_bytes(),
        )
    }
}

/// Reads an HTTP request head (up to the blank line) from `stream`.
pub fn read_request(stream: &mut TcpStream) -> io::Result<RawRequest> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let pairs: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    Ok(RawRequest {
        request_line,
        headers: pairs
            .iter()
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect(),
        spelled: pairs.iter().map(|(n, _)| n.trim().to_string()).collect(),
    })
}

/// Sends `response`, ends our side of the connection and waits for the
/// client to go away.
pub fn answer_and_hold(stream: &mut TcpStream, response: &[u8]) {
    let _ = stream.write_all(response);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    hold_silently(stream);
}

/// Reads until EOF (or [`DEADLINE`]); never writes.
pub fn hold_silently(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// A TCP server on 127.0.0.1:0 that hands each accepted connection to
/// `script` on its own thread. The script usually calls [`read_request`] and
/// writes whatever broken answer the test needs. What each script returns
/// (e.g. the request it read) is sent to the test ([`Served::next`], through
/// `Deref`, like `port`).
pub struct RawServer(Served<RawRequest>);

impl RawServer {
    pub fn start(script: impl Fn(TcpStream) -> RawRequest + Send + Sync + 'static) -> RawServer {
        RawServer(serve(loopback(), None, move |tcp, tx| {
            let _ = tx.send(script(tcp));
        }))
    }

    /// Answers every request with `response` (after reading the request
    /// head), then closes the connection.
    pub fn reply(response: impl Into<Vec<u8>>) -> RawServer {
        let response: Vec<u8> = response.into();
        Self::start(move |mut s| {
            let req = read_request(&mut s).unwrap_or_default();
            answer_and_hold(&mut s, &response);
            req
        })
    }

    /// Answers with a 101 built by `build(request)`, then holds the
    /// connection open without sending anything else.
    pub fn upgrade_with(
        build: impl Fn(&RawRequest) -> String + Send + Sync + 'static,
    ) -> RawServer {
        Self::start(move |mut s| {
            let req = read_request(&mut s).unwrap_or_default();
            let _ = s.write_all(build(&req).as_bytes());
            let _ = s.flush();
            hold_silently(&mut s);
            req
        })
    }

    /// Accepts TCP connections and never answers (for connect timeouts).
    pub fn silent() -> RawServer {
        Self::start(|mut s| {
            hold_silently(&mut s);
            RawRequest::default()
        })
    }

    pub fn url(&self) -> String {
        self.0.url_as("ws") + "/"
    }
}

impl std::ops::Deref for RawServer {
    type Target = Served<RawRequest>;

    fn deref(&self) -> &Served<RawRequest> {
        &self.0
    }
}

/// Closes `stream` with a TCP reset (SO_LINGER 0) instead of a FIN.
pub fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// The answer of a correct server to `req`: 101 with the right accept key.
pub fn switching_protocols(req: &RawRequest) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        req.accept_key()
    )
}

/// A port on 127.0.0.1 with nothing listening (connection refused).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `ws://127.0.0.1:PORT/` with nothing listening on PORT.
pub fn closed_url() -> String {
    format!("ws://127.0.0.1:{}/", closed_port())
}

/// A server-to-client (unmasked) frame with FIN set.
pub fn unmasked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(true, opcode, payload)
}

/// A server-to-client (unmasked) frame; `fin` false for all but the last
/// fragment of a message.
pub fn raw_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        f.push(len as u8);
    } else if len <= 0xffff {
        f.push(126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}
