//! Connecting: from a compute resource ID to a live SSH stream. Pure endpoint choice ([`endpoint`]), the ARM
//! lookup that starts a stopped instance (`resolve`), the last known endpoint ([`cache`]), and the ProxyCommand
//! flow that ties them to a transport ([`proxy`]); from a name typed, which instance it means ([`names`]); and
//! training jobs' nodes, found by name and waited for (`job`), which the proxy reaches as it reaches instances
//! ([`target`]).

pub mod cache;
pub mod endpoint;
pub(crate) mod job;
pub(crate) mod names;
pub mod proxy;
pub(crate) mod resolve;
pub mod target;
