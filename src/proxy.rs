//! `azml-ssh proxy`: the ProxyCommand. Cached endpoint first (no token, no HTTP client, no async runtime), ARM
//! lookup when there is none or it no longer answers, then the relay.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cache::EndpointCache;
use crate::lifecycle::StartOptions;
use crate::relay::{self, RelayError};
use crate::resolve::{self, AzureOptions, ResolveError};
use crate::resource_id::ComputeId;
use crate::runtime;

/// A cached address that does not accept within this is presumed stale (the instance moved or is stopped);
/// kept short because the fresh lookup that follows must fit in VS Code's 15 s connect timeout.
const CACHED_CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// An address ARM has just given us gets longer.
const FRESH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct ProxyOptions {
    pub azure: AzureOptions,
    pub start: StartOptions,
    /// How old a cached endpoint may be and still be tried without asking ARM; zero disables the cache.
    pub cache_max_age: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(
        "cannot connect to {name} at {addr}: {source}; check that nothing (a firewall, a VPN) blocks the port, or look at the instance in Azure ML studio"
    )]
    Connect { name: String, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error("cannot take over stdin/stdout: {0}")]
    Stdio(std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn run(id: &ComputeId, options: &ProxyOptions) -> Result<(), ProxyError> {
    let mut stdio = Some(relay::take_stdio().map_err(ProxyError::Stdio)?);
    let result = connect_and_relay(id, options, &mut stdio);
    if result.is_err() {
        // Keep ssh's end of the stream open until the process exits, which the caller does right after printing
        // the error. Closing it first lets ssh see EOF, give up, and SIGHUP us before our message is written —
        // and that one line is all the user gets.
        std::mem::forget(stdio);
    }
    result
}

fn connect_and_relay(
    id: &ComputeId,
    options: &ProxyOptions,
    stdio: &mut Option<relay::Stdio>,
) -> Result<(), ProxyError> {
    let mut take =
        || stdio.take().ok_or_else(|| ProxyError::Stdio(std::io::Error::other("stdin/stdout already in use")));
    let cache = EndpointCache::open_default();
    let use_cache = !options.cache_max_age.is_zero();

    if let Some(cache) = cache.as_ref().filter(|_| use_cache)
        && let Some(addr) = cache.fresh(id, options.cache_max_age)
    {
        match relay::connect(addr, CACHED_CONNECT_TIMEOUT) {
            Ok(socket) => {
                tracing::debug!(%addr, "connected to the cached endpoint");
                let stdio = take()?;
                return Ok(relay::relay(stdio.input, stdio.output, socket)?);
            }
            Err(e) => {
                tracing::debug!(%addr, "cached endpoint did not answer ({e}); asking Azure again");
                cache.forget(id);
            }
        }
    }

    let addr = lookup(id, options)?;
    tracing::debug!(%addr, "resolved endpoint");
    if let Some(cache) = cache.as_ref().filter(|_| use_cache) {
        cache.store(id, addr);
    }
    let socket = relay::connect(addr, FRESH_CONNECT_TIMEOUT).map_err(|source| ProxyError::Connect {
        name: id.compute.clone(),
        addr,
        source,
    })?;
    let stdio = take()?;
    Ok(relay::relay(stdio.input, stdio.output, socket)?)
}

/// The async part: token, ARM, and starting the instance if needed.
fn lookup(id: &ComputeId, options: &ProxyOptions) -> Result<SocketAddr, ProxyError> {
    let result =
        runtime::block_on(resolve::resolve(id, &options.azure, &options.start)).map_err(ProxyError::Runtime)?;
    Ok(result?)
}
