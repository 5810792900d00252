//! The accept loop behind every in-test server ([`serve`]): a loopback
//! listener, one bounded thread per connection, a report from each
//! connection to the test ([`Served::next`]), and a stop on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use super::DEADLINE;

/// At most this many connections are handled at once; the loop accepts the
/// next one when one of them ends.
const MAX_LIVE_CONNECTIONS: usize = 64;

/// A server started by [`serve`]: its address, and what its connections
/// reported. Stops accepting when dropped.
pub struct Served<T> {
    addr: SocketAddr,
    reports: Receiver<T>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// A 127.0.0.1 listener on port 0.
pub fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// Accepts connections on `listener` (at most `limit` of them, then the
/// listener is closed) and runs `handler` for each on its own thread, with
/// `TCP_NODELAY` and read and write timeouts of [`DEADLINE`], so that no
/// thread outlives a silent client for long. What a handler sends on its
/// `Sender` is what [`Served::next`] returns.
pub fn serve<T: Send + 'static>(
    listener: TcpListener,
    limit: Option<usize>,
    handler: impl Fn(TcpStream, &Sender<T>) + Send + Sync + 'static,
) -> Served<T> {
    let addr = listener.local_addr().expect("listener address");
    let (tx, reports) = mpsc::channel();
    let accepted = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (accepted2, stop2) = (accepted.clone(), stop.clone());
    let handler = Arc::new(handler);
    let live = Arc::new((Mutex::new(0usize), Condvar::new()));
    thread::spawn(move || {
        for tcp in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(tcp) = tcp else { continue };
            let n = accepted2.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = tcp.set_nodelay(true);
            let _ = tcp.set_read_timeout(Some(DEADLINE));
            let _ = tcp.set_write_timeout(Some(DEADLINE));
            {
                let (count, cv) = &*live;
                let mut count = count.lock().unwrap();
                while *count >= MAX_LIVE_CONNECTIONS {
                    count = cv.wait(count).unwrap();
                }
                *count += 1;
            }
            let (tx, handler, live) = (tx.clone(), handler.clone(), live.clone());
            thread::spawn(move || {
                handler(tcp, &tx);
                let (count, cv) = &*live;
                *count.lock().unwrap() -= 1;
                cv.notify_one();
            });
            if limit.is_some_and(|l| n >= l) {
                break; // closes the listener
            }
        }
    });
    Served {
        addr,
        reports,
        accepted,
        stop,
    }
}

impl<T> Served<T> {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `SCHEME://ADDR`
    pub fn url_as(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// `SCHEME://USER:PASS@ADDR`
    pub fn url_with(&self, scheme: &str, user: &str, pass: &str) -> String {
        format!("{scheme}://{user}:{pass}@{}", self.addr)
    }

    /// How many TCP connections have been accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The next report of a connection. Panics after [`DEADLINE`].
    #[track_caller]
    pub fn next(&self) -> T {
        match self.reports.recv_timeout(DEADLINE) {
            Ok(t) => t,
            Err(_) => panic!(
                "no connection reported on {} within {DEADLINE:?}",
                self.addr
            ),
        }
    }

    /// Like [`Served::next`] with a shorter wait; `None` if no report came
    /// in time.
    pub fn try_next(&self, timeout: Duration) -> Option<T> {
        self.reports.recv_timeout(timeout).ok()
    }
}

impl<T> Drop for Served<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that its thread ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}
