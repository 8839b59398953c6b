//! TLS to PostgreSQL as libpq does it, by the connection string's `sslmode` and
//! `sslrootcert` (PostgreSQL docs, "libpq: SSL Support", table "SSL Mode
//! Descriptions"): `disable` is plain TCP; `prefer` (the default) and `require` encrypt
//! without checking who answers (`prefer` falls back to plain TCP when the server has no
//! TLS); `verify-ca` checks the certificate's chain, `verify-full` its chain and host
//! name. As in libpq, `require` with a root certificate given checks the chain like
//! `verify-ca`. Roots: the PEM file `sslrootcert` names, else `~/.postgresql/root.crt`
//! when it exists, else the Mozilla roots (libpq's `sslrootcert=system`).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// libpq's `sslmode` (`allow` is not offered: it prefers plain TCP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified.
    #[default]
    Prefer,
    /// TLS, unverified (verified like `VerifyCa` when a root certificate is given).
    Require,
    /// TLS, the certificate's chain verified.
    VerifyCa,
    /// TLS, the certificate's chain and host name verified.
    VerifyFull,
}

impl SslMode {
    /// The mode a connection string's `sslmode` value names.
    pub fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The root certificate file cannot be read or holds no certificate.
    #[error("cannot read the root certificate {path}: {message}")]
    Roots {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// rustls refused the settings.
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// The rustls client configuration for `mode` with roots from `root_cert`.
pub fn client_config(mode: SslMode, root_cert: Option<&PathBuf>) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let verify = match mode {
        SslMode::Require if root_cert.is_some() => SslMode::VerifyCa,
        m => m,
    };
    let chain = match verify {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => None,
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(roots(root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
            Some((webpki, verify == SslMode::VerifyFull))
        }
    };
    let verifier = Arc::new(Verifier { provider, chain });
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// The trusted roots: `root_cert`, else `~/.postgresql/root.crt`, else Mozilla's.
fn roots(root_cert: Option<&PathBuf>) -> Result<RootCertStore, TlsError> {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql/root.crt"));
    let file = match root_cert {
        Some(p) if p.as_os_str() != "system" => Some(p.clone()),
        Some(_) => None,
        None => home.filter(|p| p.is_file()),
    };
    let Some(path) = file else {
        return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() });
    };
    let failed = |message: String| TlsError::Roots { path: path.clone(), message };
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).map_err(|e| failed(e.to_string()))? {
        store.add(cert.map_err(|e| failed(e.to_string()))?).map_err(|e| failed(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(failed("no certificate in it".into()));
    }
    Ok(store)
}

/// What is checked of the server's certificate. The handshake's signatures are always
/// checked, so the connection is encrypted to the certificate's key whatever the mode.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None`: any certificate is taken (`prefer`, `require`, as libpq does). Else the
    /// chain is verified, and the host name when the flag says so (`verify-full`).
    chain: Option<(Arc<WebPkiServerVerifier>, bool)>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some((webpki, host)) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !host => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
