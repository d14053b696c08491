//! The one TLS trust configuration — the system store plus `SSL_CERT_FILE` — for both the HTTPS client (ARM)
//! and the WebSocket tunnel. Proxy variables (`HTTPS_PROXY`, `NO_PROXY`) are honoured by reqwest itself and by
//! [`crate::httpproxy`] for the tunnel.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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

fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(format!("{} holds no PEM certificate", path.display())),
        Err(e) => Err(format!("{} is not a PEM certificate bundle: {e}", path.display())),
    }
}

/// Extra trust roots: `SSL_CERT_FILE` (an error if set but unreadable — the user asked for it) and, because that
/// variable displaces the platform store, the system bundle too.
fn extra_roots() -> Result<Vec<CertificateDer<'static>>, String> {
    let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut roots = read_bundle(Path::new(&file)).map_err(|e| format!("SSL_CERT_FILE: {e}"))?;
    if let Some(system) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        match read_bundle(system) {
            Ok(certs) => roots.extend(certs),
            Err(e) => tracing::debug!("ignoring the system CA bundle: {e}"),
        }
    }
    Ok(roots)
}

/// Builds the HTTPS client every ARM call goes through.
pub fn client() -> Result<reqwest::Client, String> {
    let roots: Vec<reqwest::Certificate> =
        extra_roots()?.iter().filter_map(|der| reqwest::Certificate::from_der(der).ok()).collect();
    reqwest::Client::builder()
        .user_agent(concat!("azml-ssh/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .tls_certs_merge(roots)
        .build()
        .map_err(|e| crate::text::error_chain(&e))
}

/// The rustls configuration for the tunnel, verifying like [`client`] does.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots()?, provider.clone())
        .map_err(|e| format!("cannot load trusted certificates: {e}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
