//! Every use of OpenSSL beyond what native-tls offers, behind one small interface:
//! converting traditional key files, describing a peer certificate for `-v`,
//! naming the library for `--version`, and classifying TLS failures by OpenSSL's
//! reason codes and TLS alert numbers (not by message text). native-tls keeps a
//! macOS/Windows build possible: such a build would replace this one file.

use std::error::Error as StdError;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// A traditional RSA or EC PEM private key re-encoded as PKCS#8 (what native-tls
/// takes); None when the file is not an unencrypted private key.
pub fn to_pkcs8(pem: &[u8]) -> Option<Vec<u8>> {
    openssl::pkey::PKey::private_key_from_pem(pem)
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .ok()
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

/// The reason a TLS error gives, classified when it can be, as the error says it
/// otherwise.
pub fn reason_of(error: &(dyn StdError + 'static)) -> String {
    classify(error).map_or_else(|| error.to_string(), |p| p.reason().to_string())
}

/// Classify a native-tls error (or an I/O error from a TLS stream) by walking its
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
        SSL_R_CERTIFICATE_VERIFY_FAILED => TlsProblem::Verify {
            reason: verify_result(&whole.to_string()),
        },
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

/// native-tls keeps the X.509 verify result to itself and only shows it at the end
/// of its message, in parentheses: `… certificate verify failed:…: (self-signed
/// certificate)`. This is the one place where text is read.
fn verify_result(text: &str) -> String {
    text.rfind('(')
        .and_then(|start| {
            text[start + 1..]
                .find(')')
                .map(|end| text[start + 1..start + 1 + end].to_string())
        })
        .unwrap_or_else(|| "untrusted certificate".to_string())
}

/// Subject, issuer, validity and alternative names of a certificate (DER), as
/// `-v` shows them.
pub fn describe_certificate(der: &[u8]) -> Option<CertificateInfo> {
    let cert = openssl::x509::X509::from_der(der).ok()?;
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
    fn verify_result_is_the_parenthesised_tail() {
        assert_eq!(
            verify_result("error:0A000086:SSL routines::certificate verify failed:x.c:1: (self-signed certificate)"),
            "self-signed certificate"
        );
        assert_eq!(verify_result("no detail"), "untrusted certificate");
    }

    #[test]
    fn plain_io_errors_are_not_tls_problems() {
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify(&e), None);
    }
}
