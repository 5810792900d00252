//! permessage-deflate (RFC 7692): the negotiation ([`params`]) and the data path
//! ([`codec`]), which the tap runs on the byte stream under tungstenite.

mod codec;
pub mod params;

pub use codec::{Deflater, Failure, Inflater, Wire};
pub use params::{Agreed, Params};

/// Which end of the connection wsprobe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Both directions of one connection's compression.
pub struct Deflate {
    pub inflater: Inflater,
    pub deflater: Deflater,
}

impl Deflate {
    /// The codec for what was agreed; `limit` is --max-message-size.
    pub fn new(agreed: &Agreed, side: Side, limit: usize) -> Self {
        let (ours, theirs) = match side {
            Side::Client => (
                (
                    agreed.client_max_window_bits,
                    agreed.client_no_context_takeover,
                ),
                agreed.server_no_context_takeover,
            ),
            Side::Server => (
                (
                    agreed.server_max_window_bits,
                    agreed.server_no_context_takeover,
                ),
                agreed.client_no_context_takeover,
            ),
        };
        Deflate {
            inflater: Inflater::new(theirs, limit),
            deflater: Deflater::new(ours.0, ours.1),
        }
    }
}
