//! TLS through native-tls (the system's OpenSSL): building the connector from the
//! user's options and turning handshake failures into messages a person can act on.

use std::fs;

use super::openssl_extras::{self, TlsProblem};
use super::{Deadline, Socket};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::event::CertificateInfo;

/// The TLS flags, as plain data.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub insecure: bool,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
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

/// Build the connector. Files are read and checked here, before any network
/// activity, so that a bad file is a usage error (exit 2) even if the server is down.
pub fn connector(opts: &TlsOptions) -> Result<native_tls::TlsConnector> {
    let mut builder = native_tls::TlsConnector::builder();
    if opts.insecure {
        builder
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
    }
    if let Some(path) = &opts.cacert {
        let pem = read_file(path, "CA file")?;
        let certs = native_tls::Certificate::stack_from_pem(&pem).map_err(|e| {
            Error::Usage(format!("'{}' is not a PEM certificate file: {e}", path.display()).into())
        })?;
        if certs.is_empty() {
            return Err(Error::Usage(
                format!("'{}' holds no PEM certificate", path.display()).into(),
            ));
        }
        for cert in certs {
            builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert_path), Some(key_path)) = (&opts.cert, &opts.key) {
        builder.identity(identity(cert_path, key_path, "a client certificate")?);
    }
    builder
        .build()
        .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}").into()))
}

/// `--listen` with `--cert`/`--key`: the identity wsprobe serves wss:// with.
pub fn acceptor(cert_path: &Path, key_path: &Path) -> Result<native_tls::TlsAcceptor> {
    let identity = identity(cert_path, key_path, "the server certificate")?;
    native_tls::TlsAcceptor::new(identity)
        .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}").into()))
}

/// A certificate (chain) and its key from PEM files; `role` names it in errors.
fn identity(cert_path: &Path, key_path: &Path, role: &str) -> Result<native_tls::Identity> {
    let cert = read_file(cert_path, "certificate")?;
    let key = pkcs8_key(&read_file(key_path, "key")?, key_path)?;
    native_tls::Identity::from_pkcs8(&cert, &key).map_err(|e| {
        Error::Usage(
            format!(
                "cannot use '{}' with '{}' as {role}: {e}",
                cert_path.display(),
                key_path.display()
            )
            .into(),
        )
    })
}

/// native-tls wants PKCS#8; accept the traditional RSA/EC PEM forms too.
fn pkcs8_key(pem: &[u8], path: &Path) -> Result<Vec<u8>> {
    if pem.starts_with(b"-----BEGIN PRIVATE KEY-----") {
        return Ok(pem.to_vec());
    }
    openssl_extras::to_pkcs8(pem).ok_or_else(|| {
        Error::Usage(
            format!(
                "'{}' is not an unencrypted PEM private key (PKCS#8, RSA or EC)",
                path.display()
            )
            .into(),
        )
    })
}

/// Run the TLS handshake on a connected socket that enforces the dial's deadline.
pub fn handshake(
    connector: &native_tls::TlsConnector,
    host: &str,
    socket: Socket,
    deadline: &Deadline,
) -> Result<native_tls::TlsStream<Socket>> {
    connector.connect(host, socket).map_err(|e| match e {
        native_tls::HandshakeError::WouldBlock(_) => {
            deadline.expired(&format!("in the TLS handshake with {host}"))
        }
        // The socket fails its calls once the deadline has passed: that is the
        // cause, whatever OpenSSL made of it.
        native_tls::HandshakeError::Failure(_) if deadline.passed() => {
            deadline.expired(&format!("in the TLS handshake with {host}"))
        }
        native_tls::HandshakeError::Failure(e) => {
            Error::Tls(describe_failure(host, &e).into()).because(e)
        }
    })
}

/// Say what failed and what to do about it, from OpenSSL's reason code.
fn describe_failure(host: &str, e: &native_tls::Error) -> String {
    match openssl_extras::classify(e) {
        Some(TlsProblem::Verify { reason }) => format!(
            "TLS: the certificate of {host} was rejected: {reason} (use --cacert FILE to trust its CA, or -k to skip verification)"
        ),
        Some(TlsProblem::NotTls { reason }) => format!(
            "TLS handshake with {host} failed: {reason} (is the server speaking TLS on this port? try ws:// instead of wss://)"
        ),
        Some(other) => format!("TLS handshake with {host} failed: {}", other.reason()),
        None => format!("TLS handshake with {host} failed: {e}"),
    }
}

/// The server's certificate, as `-v` shows it.
pub fn describe_peer<S: std::io::Read + std::io::Write>(
    stream: &native_tls::TlsStream<S>,
) -> Option<CertificateInfo> {
    let der = stream.peer_certificate().ok()??.to_der().ok()?;
    openssl_extras::describe_certificate(&der)
}
