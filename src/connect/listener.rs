//! The listening socket of `--listen`: TCP (`[ADDRESS:]PORT`) or a Unix socket
//! (`unix:PATH`), with what clients are told to connect to, and the Unix
//! socket's file removed again when wsprobe stops listening.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use super::socket::Transport;
use super::tcp;
use crate::error::{Error, Result};

pub enum Listener {
    Tcp(TcpListener),
    Unix { socket: UnixListener, path: PathBuf },
}

impl Listener {
    /// `PORT`, `HOST:PORT`, `[IPv6]:PORT` (a bare port means 127.0.0.1: every
    /// interface has to be asked for, `0.0.0.0:PORT`), or `unix:PATH`.
    pub fn bind(spec: &str) -> Result<Listener> {
        let spec = spec.trim();
        match spec.strip_prefix("unix:") {
            Some(path) => bind_unix(Path::new(path)),
            None => bind_tcp(spec).map(Listener::Tcp),
        }
    }

    /// Accept a waiting client: its socket and how to name it.
    pub fn accept(&self) -> io::Result<(Transport, String)> {
        match self {
            Listener::Tcp(listener) => {
                let (tcp, peer) = listener.accept()?;
                let _ = tcp.set_nodelay(true);
                Ok((Transport::Tcp(tcp), peer.to_string()))
            }
            Listener::Unix { socket, path } => {
                let (unix, _) = socket.accept()?;
                // A client's end of a Unix socket has no name: say where it came in.
                Ok((Transport::Unix(unix), format!("unix:{}", path.display())))
            }
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.set_nonblocking(on),
            Listener::Unix { socket, .. } => socket.set_nonblocking(on),
        }
    }

    /// What clients connect to: `ws://127.0.0.1:9001/`, or
    /// `ws+unix:///run/app.sock:/` (Node `ws`'s form, which wsprobe takes too).
    pub fn url(&self, tls: bool) -> String {
        let scheme = if tls { "wss" } else { "ws" };
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => format!("{scheme}://{addr}/"),
                Err(_) => format!("{scheme}://?/"),
            },
            Listener::Unix { path, .. } => format!("{scheme}+unix://{}:/", path.display()),
        }
    }

    /// The start of the URL a client asks for, before its request path:
    /// `ws://127.0.0.1:9001`; through a Unix socket, `ws://localhost`.
    pub fn base(&self, tls: bool) -> String {
        let scheme = if tls { "wss" } else { "ws" };
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => format!("{scheme}://{addr}"),
                Err(_) => format!("{scheme}://?"),
            },
            Listener::Unix { .. } => format!("{scheme}://localhost"),
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(listener) => listener.as_raw_fd(),
            Listener::Unix { socket, .. } => socket.as_raw_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn bind_tcp(spec: &str) -> Result<TcpListener> {
    let text = if spec.parse::<u16>().is_ok() {
        format!("127.0.0.1:{spec}")
    } else {
        spec.to_string()
    };
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|_| {
            Error::Usage(format!(
                "--listen expects PORT, ADDRESS:PORT or unix:PATH (e.g. 9001, 0.0.0.0:9001, [::1]:9001, unix:/tmp/app.sock), got '{spec}'"
            ).into())
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => {
            Error::Connect(format!("cannot listen on {addr}: {}", tcp::plain_io_message(&e)).into())
        }
        None => Error::Usage(format!("--listen: '{spec}' has no address").into()),
    })
}

/// A Unix socket at `path`. An existing file is never removed: telling a socket
/// left behind from a live one would mean connecting to it, which a server that
/// serves one client (`--once`) would take as its client.
fn bind_unix(path: &Path) -> Result<Listener> {
    if path.as_os_str().is_empty() {
        return Err(Error::Usage(
            "--listen unix: needs a path, e.g. unix:/tmp/app.sock".into(),
        ));
    }
    let cannot = |why: String| {
        Error::Connect(format!("cannot listen on unix:{}: {why}", path.display()).into())
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        return Err(cannot(if meta.file_type().is_socket() {
            "the socket exists (another server uses it, or one left it behind: then remove it)"
                .into()
        } else {
            "the file exists and is not a socket".into()
        }));
    }
    let socket = UnixListener::bind(path).map_err(|e| cannot(tcp::plain_io_message(&e)))?;
    Ok(Listener::Unix {
        socket,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_and_unix_addresses() {
        let l = Listener::bind("0").unwrap();
        assert!(l.url(false).starts_with("ws://127.0.0.1:"));
        assert!(l.url(true).starts_with("wss://127.0.0.1:"));
        assert!(matches!(
            Listener::bind("not an address"),
            Err(Error::Usage(_))
        ));
        let taken = Listener::bind("127.0.0.1:0").unwrap();
        let Listener::Tcp(tcp) = &taken else {
            panic!("a TCP listener")
        };
        let port = tcp.local_addr().unwrap().port();
        assert!(matches!(
            Listener::bind(&format!("127.0.0.1:{port}")),
            Err(Error::Connect(_))
        ));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let spec = format!("unix:{}", path.display());
        let l = Listener::bind(&spec).unwrap();
        assert_eq!(l.url(false), format!("ws+unix://{}:/", path.display()));
        assert_eq!(l.base(false), "ws://localhost");
        // A live socket is not taken over…
        assert!(matches!(Listener::bind(&spec), Err(Error::Connect(_))));
        drop(l);
        // …and the file goes away with the listener.
        assert!(!path.exists());
        // A socket left behind is not removed either.
        let stale = UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(matches!(Listener::bind(&spec), Err(Error::Connect(_))));
        std::fs::remove_file(&path).unwrap();
        // Another kind of file is left alone.
        std::fs::write(&path, b"data").unwrap();
        assert!(matches!(Listener::bind(&spec), Err(Error::Connect(_))));
        assert!(matches!(Listener::bind("unix:"), Err(Error::Usage(_))));
    }
}
