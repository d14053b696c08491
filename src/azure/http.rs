//! The HTTPS client every ARM call goes through: the shared trust roots, a user agent and a connect bound.
//! Proxy variables (`HTTPS_PROXY`, `NO_PROXY`) are honoured by reqwest itself.

use std::time::Duration;

use crate::transport::tls::{self, TlsError};
use crate::util::text::error_chain;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Build(String),
}

/// The client; `direct` bypasses `HTTP(S)_PROXY` (for plain http to loopback, whose traffic a proxy could read).
pub fn client(direct: bool) -> Result<reqwest::Client, ClientError> {
    let roots: Vec<reqwest::Certificate> =
        tls::extra_roots()?.iter().filter_map(|der| reqwest::Certificate::from_der(der).ok()).collect();
    let builder = reqwest::Client::builder();
    let builder = if direct { builder.no_proxy() } else { builder };
    builder
        .user_agent(concat!("azml-ssh/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        // ARM never redirects; following one could hand the bearer token to another host.
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_merge(roots)
        .build()
        .map_err(|e| ClientError::Build(error_chain(&e)))
}
