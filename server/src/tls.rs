//! HTTPS: rustls (ring provider) from `--tls-cert`/`--tls-key` PEM files, offering ALPN `h2` and `http/1.1`.
//!
//! The handshake counts as part of the request head: it must finish within
//! `--header-timeout` (see [`crate::connection`]). Which protocol runs afterwards is
//! decided by what the client sends (the HTTP/2 preface or an HTTP/1 request line), so
//! a client that negotiated `http/1.1`, or none, is served too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The certificate chain and key files of `--tls-cert` / `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or parsed.
    #[error("reading the certificate chain {path}: {source}; pass a PEM file to --tls-cert")]
    Cert {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{0} holds no PEM certificate; pass a PEM file to --tls-cert")]
    NoCert(PathBuf),
    /// The key file could not be read or parsed.
    #[error("reading the private key {path}: {source}; pass a PEM key to --tls-key")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the pair (e.g. the key does not belong to the certificate).
    #[error("the certificate and key cannot be used together: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsFiles {
    /// Loads both files and builds an acceptor offering `h2` and `http/1.1`.
    ///
    /// # Errors
    /// [`TlsError`] naming the file and the flag to fix.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let chain = load_chain(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|source| TlsError::Key {
            path: self.key.clone(),
            source,
        })?;
        // An explicit provider: whatever else the dependency graph enables, this is ring.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let cert_error = |source| TlsError::Cert {
        path: path.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(cert_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(path.to_owned()));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(files: &TlsFiles) -> String {
        match files.acceptor() {
            Ok(_) => panic!("{files:?} should not load"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn errors_name_the_file_and_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("key.pem"),
        };
        let err = error_of(&missing);
        assert!(err.contains("nope.pem") && err.contains("--tls-cert"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let files = TlsFiles {
            cert: empty,
            key: dir.path().join("key.pem"),
        };
        let err = error_of(&files);
        assert!(err.contains("no PEM certificate"), "{err}");

        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        let files = TlsFiles {
            cert,
            key: dir.path().join("missing-key.pem"),
        };
        let err = error_of(&files);
        assert!(
            err.contains("missing-key.pem") && err.contains("--tls-key"),
            "{err}"
        );
        let key = dir.path().join("key.pem");
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        let files = TlsFiles { key, ..files };
        assert!(files.acceptor().is_ok(), "a generated pair loads");
    }
}
