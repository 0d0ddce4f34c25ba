//! HTTPS for the client: one rustls configuration per process (system roots, a CA file, or no verification for test certificates), and the socket that is plain TCP or TLS.
//!
//! `https://` URLs use [`default_config`]: the operating system's roots
//! (`rustls-native-certs`) unless the command line installed another with
//! [`set_default`] (`--ca-file`: only that file's certificates, as curl's `--cacert`;
//! `--insecure`: any certificate, for self-signed test servers, never for a measurement
//! you publish). ALPN offers `http/1.1`, or only `h2` for HTTP/2 streams ([`http2_config`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How certificates are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Trust only the certificates of this PEM file (instead of the system roots).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (self-signed test servers).
    pub insecure: bool,
}

/// A TLS configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read or holds no certificate.
    #[error("--ca-file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// Installs the configuration every `https://` connection of this process uses; only the
/// first call counts (returns whether this one did).
pub fn set_default(config: Arc<ClientConfig>) -> bool {
    DEFAULT.set(config).is_ok()
}

/// Installs the process's configuration from the command line's options when they say
/// anything, else from the target file's `[tls]`; nothing when both are the defaults.
///
/// # Errors
/// The CA file is unusable.
pub fn install(flags: &TlsOptions, file: &TlsOptions) -> Result<(), TlsError> {
    let chosen = if flags.ca_file.is_some() || flags.insecure {
        flags
    } else {
        file
    };
    if chosen != &TlsOptions::default() {
        set_default(build(chosen)?);
    }
    Ok(())
}

/// The process's configuration: the installed one, else system roots.
pub fn default_config() -> Arc<ClientConfig> {
    Arc::clone(DEFAULT.get_or_init(|| build(&TlsOptions::default()).unwrap_or_else(|_| Arc::new(empty()))))
}

/// The process's configuration offering only `h2` in ALPN (HTTP/2 streams).
pub fn http2_config() -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(&default_config());
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A configuration trusting nothing (every handshake fails with a clear certificate error).
fn empty() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"))
}

/// Builds a configuration from `options`.
///
/// # Errors
/// [`TlsError`] naming the CA file or what rustls refused.
pub fn build(options: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder =
        ClientConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions()?;
    let mut config = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = match &options.ca_file {
            Some(path) => ca_file(path)?,
            None => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                roots
            }
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn ca_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let error = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(error("no certificate in it could be used as a root".into()));
    }
    Ok(roots)
}

/// `--insecure`: any certificate is accepted; signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client socket: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// The local (source) address of the TCP socket, when the OS reports it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Plain(s) => s.local_addr().ok(),
            Self::Tls(s) => s.get_ref().0.local_addr().ok(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here").unwrap();
        let err = build(&TlsOptions {
            ca_file: Some(empty),
            insecure: false,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = build(&TlsOptions {
            ca_file: Some(dir.path().join("missing.pem")),
            insecure: false,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing.pem"), "{err}");
        assert!(build(&TlsOptions::default()).is_ok());
        assert!(
            build(&TlsOptions {
                ca_file: None,
                insecure: true
            })
            .is_ok()
        );
    }
}
