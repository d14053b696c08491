//! The one HTTPS client configuration: rustls, the system trust store plus `SSL_CERT_FILE`, and the standard proxy
//! variables (`HTTPS_PROXY`, `NO_PROXY`), which reqwest reads by itself.

use std::path::Path;
use std::time::Duration;

/// Where Linux distributions keep their CA bundle. rustls-platform-verifier reads `SSL_CERT_FILE` *instead of*
/// the system store, so when that variable is set we add the system bundle back ourselves.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn read_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{} is not a PEM certificate bundle: {e}", path.display()))
}

/// Extra trust roots: `SSL_CERT_FILE` (an error if set but unreadable — the user asked for it) and, because that
/// variable displaces the platform store, the system bundle too.
fn extra_roots() -> Result<Vec<reqwest::Certificate>, String> {
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

/// Builds the HTTPS client every Azure call goes through.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("azml-ssh/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .tls_certs_merge(extra_roots()?)
        .build()
        .map_err(|e| crate::text::error_chain(&e))
}
