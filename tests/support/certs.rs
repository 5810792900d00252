//! TLS material generated at test time (rcgen): the test CA and the
//! certificates it signs ([`pki`]), and TLS acceptors for the servers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::Tls;

pub struct KeyPairFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A test CA and certificates signed by it, as PEM files in a temp dir.
pub struct Pki {
    dir: tempfile::TempDir,
    /// The CA certificate (give to wsprobe with `--cacert`).
    pub ca: PathBuf,
    /// Server certificate for `localhost`, 127.0.0.1 and ::1.
    pub localhost: KeyPairFiles,
    /// Server certificate for `other.example` only (wrong hostname).
    pub other_host: KeyPairFiles,
    /// Client certificate (CN `wsprobe test client`).
    pub client: KeyPairFiles,
    /// A file that is not a key.
    pub garbage: PathBuf,
}

impl Pki {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The path of the test CA's certificate, for `--cacert`.
pub fn ca() -> &'static str {
    pki().ca.to_str().unwrap()
}

fn write_pair(
    dir: &Path,
    name: &str,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> KeyPairFiles {
    let cert_pem = cert.pem();
    let key_pem = key.serialize_pem();
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    KeyPairFiles {
        cert: cert_path,
        key: key_path,
        cert_pem,
        key_pem,
    }
}

/// The test PKI, generated once per test process (in `target/tmp`).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        // A static is never dropped, so this directory outlives the process:
        // remove the ones earlier runs left (older than an hour).
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(base).unwrap();
        if let Ok(entries) = std::fs::read_dir(base) {
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600));
                if old && e.file_name().to_string_lossy().starts_with("pki-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("pki-")
            .tempdir_in(base)
            .unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wsprobe test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();

        let leaf = |names: &[&str], cn: &str, client: bool| {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![if client {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            (cert, key)
        };

        let (c, k) = leaf(&["localhost", "127.0.0.1", "::1"], "localhost", false);
        let localhost = write_pair(dir.path(), "localhost", &c, &k);
        let (c, k) = leaf(&["other.example"], "other.example", false);
        let other_host = write_pair(dir.path(), "other", &c, &k);
        let (c, k) = leaf(&[], "wsprobe test client", true);
        let client = write_pair(dir.path(), "client", &c, &k);
        let garbage = dir.path().join("garbage.key");
        std::fs::write(&garbage, "this is not a PEM key\n").unwrap();

        Pki {
            dir,
            ca,
            localhost,
            other_host,
            client,
            garbage,
        }
    })
}

/// A native-tls acceptor presenting `pair`.
pub fn tls_acceptor(pair: &KeyPairFiles) -> Tls {
    let id = native_tls::Identity::from_pkcs8(pair.cert_pem.as_bytes(), pair.key_pem.as_bytes())
        .expect("identity from test certificate");
    Tls::Native(native_tls::TlsAcceptor::new(id).expect("TLS acceptor"))
}

/// An OpenSSL acceptor presenting `pair` that requires a client
/// certificate signed by the test CA.
pub fn tls_acceptor_requiring_client_cert(pair: &KeyPairFiles) -> Tls {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    b.set_private_key_file(&pair.key, SslFiletype::PEM).unwrap();
    b.set_certificate_chain_file(&pair.cert).unwrap();
    b.set_ca_file(&pki().ca).unwrap();
    b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    Tls::OpenSsl(Arc::new(b.build()))
}
