//! The one TLS trust configuration — the system store plus `SSL_CERT_FILE` — shared by the HTTPS client that
//! talks to ARM and by the WebSocket tunnel.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Where Linux distributions keep their CA bundle. rustls-platform-verifier reads `SSL_CERT_FILE` *instead of*
/// the system store, so when that variable is set we add the system bundle back ourselves.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("cannot read {path}: {source}; check SSL_CERT_FILE")]
    Read { path: String, source: std::io::Error },
    #[error("{path} holds no PEM certificate; point SSL_CERT_FILE at a PEM bundle, or unset it")]
    Empty { path: String },
    #[error("{path} is not a PEM certificate bundle: {reason}; point SSL_CERT_FILE at a PEM bundle, or unset it")]
    NotPem { path: String, reason: String },
    #[error("SSL_CERT_FILE: {0}")]
    CertFile(Box<TlsError>),
    #[error("cannot load trusted certificates: {0}; set SSL_CERT_FILE to a PEM bundle of the CAs you trust")]
    Verifier(String),
    #[error("{0}")]
    Config(String),
}

fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = || path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsError::Read { path: shown(), source })?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(TlsError::Empty { path: shown() }),
        Err(e) => Err(TlsError::NotPem { path: shown(), reason: e.to_string() }),
    }
}

/// Extra trust roots: `SSL_CERT_FILE` (an error if set but unreadable — the user asked for it) and, because that
/// variable displaces the platform store, the system bundle too.
pub(crate) fn extra_roots() -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut roots = read_bundle(Path::new(&file)).map_err(|e| TlsError::CertFile(Box::new(e)))?;
    if let Some(system) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        match read_bundle(system) {
            Ok(certs) => roots.extend(certs),
            Err(e) => tracing::debug!("ignoring the system CA bundle: {e}"),
        }
    }
    Ok(roots)
}

/// The rustls configuration for the tunnel, verifying as the HTTPS client does.
pub(crate) fn client_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = extra_roots()?;
    // Without extra roots, the plain platform verifier (as reqwest does): on Windows the extra-roots variant
    // builds its own chain engine, which Windows' own store does not need (and Wine's crypt32 refuses).
    let verifier = if roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
    }
    .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
