//! TLS through native-tls (the system's OpenSSL): building the connector from the
//! user's options and turning handshake failures into messages a person can act on.

use std::fs;

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
        Error::Usage(format!(
            "cannot read {what} '{}': {}",
            path.display(),
            super::tcp::plain_io_message(&e)
        ))
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
            Error::Usage(format!(
                "'{}' is not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(Error::Usage(format!(
                "'{}' holds no PEM certificate",
                path.display()
            )));
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
        .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))
}

/// `--listen` with `--cert`/`--key`: the identity wsprobe serves wss:// with.
pub fn acceptor(cert_path: &Path, key_path: &Path) -> Result<native_tls::TlsAcceptor> {
    let identity = identity(cert_path, key_path, "the server certificate")?;
    native_tls::TlsAcceptor::new(identity)
        .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))
}

/// A certificate (chain) and its key from PEM files; `role` names it in errors.
fn identity(cert_path: &Path, key_path: &Path, role: &str) -> Result<native_tls::Identity> {
    let cert = read_file(cert_path, "certificate")?;
    let key = pkcs8_key(&read_file(key_path, "key")?, key_path)?;
    native_tls::Identity::from_pkcs8(&cert, &key).map_err(|e| {
        Error::Usage(format!(
            "cannot use '{}' with '{}' as {role}: {e}",
            cert_path.display(),
            key_path.display()
        ))
    })
}

/// native-tls wants PKCS#8; accept the traditional RSA/EC PEM forms too by
/// re-encoding them with OpenSSL (already linked through native-tls).
fn pkcs8_key(pem: &[u8], path: &Path) -> Result<Vec<u8>> {
    if pem.starts_with(b"-----BEGIN PRIVATE KEY-----") {
        return Ok(pem.to_vec());
    }
    openssl::pkey::PKey::private_key_from_pem(pem)
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|_| {
            Error::Usage(format!(
                "'{}' is not an unencrypted PEM private key (PKCS#8, RSA or EC)",
                path.display()
            ))
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
        native_tls::HandshakeError::Failure(e) => Error::Tls(describe_failure(host, &e)),
    })
}

/// OpenSSL's errors look like `error:0A000086:SSL routines:...:certificate verify
/// failed:../ssl/statem/statem_clnt.c:1889: (self-signed certificate)`; keep what
/// matters and say what to do about it.
fn describe_failure(host: &str, e: &native_tls::Error) -> String {
    let text = e.to_string();
    if text.contains("certificate verify failed") {
        let reason = text
            .rfind('(')
            .and_then(|start| {
                text[start + 1..]
                    .find(')')
                    .map(|end| &text[start + 1..start + 1 + end])
            })
            .unwrap_or("untrusted certificate");
        return format!(
            "TLS: the certificate of {host} was rejected: {reason} (use --cacert FILE to trust its CA, or -k to skip verification)"
        );
    }
    let detail = text
        .split(':')
        .map(str::trim)
        .rfind(|part| {
            !part.is_empty()
                && !part.starts_with("error")
                && !part.starts_with("SSL routines")
                && !part.contains(".c")
                && part.chars().any(|c| c.is_alphabetic())
                && !part.chars().all(|c| c.is_ascii_hexdigit())
        })
        .unwrap_or(&text)
        .to_string();
    let hint = if detail.contains("unexpected EOF") || detail.contains("wrong version number") {
        " (is the server speaking TLS on this port? try ws:// instead of wss://)"
    } else {
        ""
    };
    format!("TLS handshake with {host} failed: {detail}{hint}")
}

/// Subject, issuer, validity and alternative names of the server's certificate,
/// parsed from the DER that native-tls hands out (with OpenSSL's X.509 parser).
pub fn describe_peer<S: std::io::Read + std::io::Write>(
    stream: &native_tls::TlsStream<S>,
) -> Option<CertificateInfo> {
    let der = stream.peer_certificate().ok()??.to_der().ok()?;
    let cert = openssl::x509::X509::from_der(&der).ok()?;
    let name = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let alt_names = cert
        .subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| {
                    n.dnsname().map(|d| format!("DNS:{d}")).or_else(|| {
                        n.ipaddress().map(|ip| match ip.len() {
                            4 => format!(
                                "IP:{}",
                                std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])
                            ),
                            16 => {
                                let mut b = [0u8; 16];
                                b.copy_from_slice(ip);
                                format!("IP:{}", std::net::Ipv6Addr::from(b))
                            }
                            _ => "IP:?".to_string(),
                        })
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CertificateInfo {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        not_before: cert.not_before().to_string(),
        not_after: cert.not_after().to_string(),
        alt_names,
    })
}
