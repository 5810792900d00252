//! OpenSSL's details that wsprobe reads: describing a peer certificate for `-v`,
//! naming the library for `--version`, and classifying TLS failures by OpenSSL's
//! reason codes, X.509 verify results and TLS alert numbers (not by message text).

use std::error::Error as StdError;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use openssl::ssl::SslRef;
use openssl::x509::{X509Ref, X509VerifyResult};

use crate::event::CertificateInfo;

/// OpenSSL's reason codes that wsprobe tells apart (`ssl/sslerr.h`; openssl-sys
/// does not export them).
const SSL_R_CERTIFICATE_VERIFY_FAILED: i32 = 134;
const SSL_R_WRONG_VERSION_NUMBER: i32 = 267;
const SSL_R_UNEXPECTED_EOF_WHILE_READING: i32 = 294;
/// A received alert is reported as this plus the alert's number (RFC 8446 §6).
const SSL_AD_REASON_OFFSET: i32 = 1000;
/// TLS 1.3's `certificate_required` alert.
const ALERT_CERTIFICATE_REQUIRED: i32 = 116;

/// "OpenSSL 3.0.x …", for `--version -v`.
pub fn library_version() -> &'static str {
    openssl::version::version()
}

/// What went wrong in a TLS handshake or on a TLS stream.
#[derive(Debug, PartialEq, Eq)]
pub enum TlsProblem {
    /// The peer's certificate did not verify; `reason` is OpenSSL's verify result.
    Verify {
        reason: String,
    },
    /// The peer sent an alert.
    Alert {
        number: i32,
        description: String,
    },
    /// The peer does not speak TLS (an HTTP answer, or a close, to our hello).
    NotTls {
        reason: String,
    },
    Other {
        reason: String,
    },
}

impl TlsProblem {
    /// What OpenSSL (or the verify step) said, for a message.
    pub fn reason(&self) -> &str {
        match self {
            TlsProblem::Verify { reason }
            | TlsProblem::NotTls { reason }
            | TlsProblem::Other { reason } => reason,
            TlsProblem::Alert { description, .. } => description,
        }
    }

    /// Whether an alert number says the server wants a client certificate.
    pub fn is_certificate_required(alert: i32) -> bool {
        alert == ALERT_CERTIFICATE_REQUIRED
    }
}

/// The reason a failed handshake gives, classified when it can be, as the error
/// says it otherwise.
pub fn reason_of(ssl: &SslRef, error: &openssl::ssl::Error) -> String {
    classify_handshake(ssl, error).map_or_else(|| error.to_string(), |p| p.reason().to_string())
}

/// Classify a failed handshake; a certificate that did not verify gets the X.509
/// verify result as its reason (`self-signed certificate`, `hostname mismatch`).
pub fn classify_handshake(ssl: &SslRef, error: &openssl::ssl::Error) -> Option<TlsProblem> {
    match classify(error)? {
        TlsProblem::Verify { reason } => {
            let result = ssl.verify_result();
            Some(TlsProblem::Verify {
                reason: if result == X509VerifyResult::OK {
                    reason
                } else {
                    result.error_string().to_string()
                },
            })
        }
        other => Some(other),
    }
}

/// Classify an OpenSSL error (or an I/O error from a TLS stream) by walking its
/// causes down to OpenSSL's error stack.
pub fn classify(error: &(dyn StdError + 'static)) -> Option<TlsProblem> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(stack) = e.downcast_ref::<openssl::error::ErrorStack>() {
            return Some(from_stack(stack, error));
        }
        if let Some(ssl) = e.downcast_ref::<openssl::ssl::Error>() {
            if let Some(stack) = ssl.ssl_error() {
                return Some(from_stack(stack, error));
            }
            if let Some(io) = ssl.io_error() {
                if io.kind() == io::ErrorKind::UnexpectedEof {
                    return Some(TlsProblem::NotTls {
                        reason: "unexpected EOF".into(),
                    });
                }
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                cause = Some(inner);
                continue;
            }
        }
        cause = e.source();
    }
    None
}

fn from_stack(stack: &openssl::error::ErrorStack, whole: &dyn StdError) -> TlsProblem {
    let Some(first) = stack.errors().first() else {
        return TlsProblem::Other {
            reason: whole.to_string(),
        };
    };
    let code = first.reason_code();
    let reason = first.reason().unwrap_or("unknown error").to_string();
    match code {
        SSL_R_CERTIFICATE_VERIFY_FAILED => TlsProblem::Verify { reason },
        SSL_R_WRONG_VERSION_NUMBER | SSL_R_UNEXPECTED_EOF_WHILE_READING => {
            TlsProblem::NotTls { reason }
        }
        c if (SSL_AD_REASON_OFFSET..SSL_AD_REASON_OFFSET + 256).contains(&c) => TlsProblem::Alert {
            number: c - SSL_AD_REASON_OFFSET,
            description: reason,
        },
        _ => TlsProblem::Other { reason },
    }
}

/// Subject, issuer, validity and alternative names of a certificate, as `-v`
/// shows them.
pub fn describe_certificate(cert: &X509Ref) -> Option<CertificateInfo> {
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
        .map(|names| names.iter().filter_map(alt_name).collect())
        .unwrap_or_default();
    Some(CertificateInfo {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        not_before: cert.not_before().to_string(),
        not_after: cert.not_after().to_string(),
        alt_names,
    })
}

fn alt_name(n: &openssl::x509::GeneralNameRef) -> Option<String> {
    if let Some(dns) = n.dnsname() {
        return Some(format!("DNS:{dns}"));
    }
    let ip = n.ipaddress()?;
    Some(match ip.len() {
        4 => format!("IP:{}", Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(ip);
            format!("IP:{}", Ipv6Addr::from(b))
        }
        _ => "IP:?".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_io_errors_are_not_tls_problems() {
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify(&e), None);
    }
}
