//! TLS through OpenSSL: the client's connector and listen mode's acceptor built from
//! the user's options (offering and accepting ALPN `http/1.1`, logging keys for
//! `SSLKEYLOGFILE`), the handshake under the dial's deadline, what it negotiated, and
//! handshake failures turned into messages a person can act on.

use std::fs;
use std::path::{Path, PathBuf};

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    self, HandshakeError, MidHandshakeSslStream, SslAcceptor, SslConnector, SslContextBuilder,
    SslMethod, SslRef, SslStream, SslVerifyMode,
};
use openssl::x509::X509;

use super::openssl_extras::{self, TlsProblem};
use super::{keylog, Deadline, Socket};
use crate::error::{Error, Result};
use crate::event::{CertificateInfo, TlsInfo};

/// The one application protocol wsprobe speaks under TLS (ALPN wire format): the
/// upgrade is HTTP/1.1.
const ALPN_HTTP_1_1: &[u8] = b"\x08http/1.1";

/// The TLS flags, as plain data.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub insecure: bool,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// A client TLS context, ready for any number of handshakes.
pub struct Connector {
    ssl: SslConnector,
    /// `-k`: neither the chain nor the host name is checked.
    insecure: bool,
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| {
        let text = format!(
            "cannot read {what} '{}': {}",
            path.display(),
            super::tcp::plain_io_message(&e)
        );
        Error::Usage(text.into()).because(e)
    })
}

fn setup_failed(e: ErrorStack) -> Error {
    Error::Tls(format!("cannot set up TLS: {e}").into()).because(e)
}

/// Build the connector. Files are read and checked here, before any network
/// activity, so that a bad file is a usage error (exit 2) even if the server is down.
pub fn connector(opts: &TlsOptions) -> Result<Connector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(setup_failed)?;
    if opts.insecure {
        builder.set_verify(SslVerifyMode::NONE);
    }
    if let Some(path) = &opts.cacert {
        let pem = read_file(path, "CA file")?;
        let certs = X509::stack_from_pem(&pem).map_err(|e| {
            Error::Usage(format!("'{}' is not a PEM certificate file: {e}", path.display()).into())
        })?;
        if certs.is_empty() {
            return Err(Error::Usage(
                format!("'{}' holds no PEM certificate", path.display()).into(),
            ));
        }
        for cert in certs {
            builder
                .cert_store_mut()
                .add_cert(cert)
                .map_err(setup_failed)?;
        }
    }
    if let (Some(cert_path), Some(key_path)) = (&opts.cert, &opts.key) {
        identity(&mut builder, cert_path, key_path, "a client certificate")?;
    }
    builder
        .set_alpn_protos(ALPN_HTTP_1_1)
        .map_err(setup_failed)?;
    keylog::install(&mut builder)?;
    Ok(Connector {
        ssl: builder.build(),
        insecure: opts.insecure,
    })
}

/// `--listen` with `--cert`/`--key`: the identity wsprobe serves wss:// with; it
/// accepts a client's ALPN offer of `http/1.1`.
pub fn acceptor(cert_path: &Path, key_path: &Path) -> Result<SslAcceptor> {
    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(setup_failed)?;
    identity(&mut builder, cert_path, key_path, "the server certificate")?;
    builder.set_alpn_select_callback(|_, offered| {
        ssl::select_next_proto(ALPN_HTTP_1_1, offered).ok_or(ssl::AlpnError::NOACK)
    });
    keylog::install(&mut builder)?;
    Ok(builder.build())
}

/// A certificate (chain) and its key from PEM files; `role` names it in errors.
fn identity(
    builder: &mut SslContextBuilder,
    cert_path: &Path,
    key_path: &Path,
    role: &str,
) -> Result<()> {
    let cert = read_file(cert_path, "certificate")?;
    let key = private_key(&read_file(key_path, "key")?, key_path)?;
    let unusable = |e: &dyn std::fmt::Display| {
        Error::Usage(
            format!(
                "cannot use '{}' with '{}' as {role}: {e}",
                cert_path.display(),
                key_path.display()
            )
            .into(),
        )
    };
    let mut chain = X509::stack_from_pem(&cert)
        .map_err(|e| unusable(&e))?
        .into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| unusable(&"the certificate file holds no PEM certificate"))?;
    builder.set_certificate(&leaf).map_err(|e| unusable(&e))?;
    for intermediate in chain {
        builder
            .add_extra_chain_cert(intermediate)
            .map_err(|e| unusable(&e))?;
    }
    builder.set_private_key(&key).map_err(|e| unusable(&e))?;
    builder.check_private_key().map_err(|e| unusable(&e))
}

/// An unencrypted PEM private key: PKCS#8, or the traditional RSA and EC forms. An
/// encrypted key is refused (OpenSSL would otherwise ask for its passphrase on the
/// terminal).
fn private_key(pem: &[u8], path: &Path) -> Result<PKey<Private>> {
    PKey::private_key_from_pem_callback(pem, |_| Ok(0)).map_err(|_| {
        Error::Usage(
            format!(
                "'{}' is not an unencrypted PEM private key (PKCS#8, RSA or EC)",
                path.display()
            )
            .into(),
        )
    })
}

/// Whom a handshake is with, for its messages: the server (named as in the URL), or
/// an HTTPS proxy (named as `the proxy https://…`), each with its own flags to suggest.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    pub name: &'a str,
    pub proxy: bool,
}

/// Run the TLS handshake on a connected socket that enforces the dial's deadline.
/// `host` is the SNI and the name the certificate must carry.
pub fn handshake(
    connector: &Connector,
    host: &str,
    socket: Socket,
    deadline: &Deadline,
    peer: Peer,
) -> Result<SslStream<Socket>> {
    let name = peer.name;
    let config = connector
        .ssl
        .configure()
        .map_err(setup_failed)?
        .verify_hostname(!connector.insecure);
    config.connect(host, socket).map_err(|e| match e {
        HandshakeError::SetupFailure(e) => setup_failed(e),
        HandshakeError::WouldBlock(_) => {
            deadline.expired(&format!("in the TLS handshake with {name}"))
        }
        // The socket fails its calls once the deadline has passed: that is the
        // cause, whatever OpenSSL made of it.
        HandshakeError::Failure(_) if deadline.passed() => {
            deadline.expired(&format!("in the TLS handshake with {name}"))
        }
        HandshakeError::Failure(mid) => {
            let text = describe_failure(peer, &mid);
            Error::Tls(text.into()).because(mid.into_error())
        }
    })
}

/// Say what failed and what to do about it, from OpenSSL's reason code.
fn describe_failure(peer: Peer, mid: &MidHandshakeSslStream<Socket>) -> String {
    let name = peer.name;
    let (cacert, insecure, who, plain) = if peer.proxy {
        (
            "--proxy-cacert FILE",
            "--proxy-insecure",
            "the proxy",
            "http:// instead of https://",
        )
    } else {
        (
            "--cacert FILE",
            "-k",
            "the server",
            "ws:// instead of wss://",
        )
    };
    match openssl_extras::classify_handshake(mid.ssl(), mid.error()) {
        Some(TlsProblem::Verify { reason }) => format!(
            "TLS: the certificate of {name} was rejected: {reason} (use {cacert} to trust its CA, or {insecure} to skip verification)"
        ),
        Some(TlsProblem::NotTls { reason }) => format!(
            "TLS handshake with {name} failed: {reason} (is {who} speaking TLS on this port? try {plain})"
        ),
        Some(other) => format!("TLS handshake with {name} failed: {}", other.reason()),
        None => format!("TLS handshake with {name} failed: {}", mid.error()),
    }
}

/// The peer's certificate, as `-v` shows it.
pub fn describe_peer(ssl: &SslRef) -> Option<CertificateInfo> {
    let cert = ssl.peer_certificate()?;
    openssl_extras::describe_certificate(&cert)
}

/// The protocol version, cipher suite and ALPN protocol a handshake agreed on.
pub fn negotiated(ssl: &SslRef) -> TlsInfo {
    TlsInfo {
        version: ssl.version_str().to_string(),
        cipher: ssl
            .current_cipher()
            .map_or_else(|| "(none)".to_string(), |c| c.name().to_string()),
        alpn: ssl
            .selected_alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    }
}
