//! Connecting: from a compute resource ID to a live SSH stream. Pure endpoint choice ([`endpoint`]), the ARM
//! lookup that starts a stopped instance (`resolve`), the last known endpoint ([`cache`]), and the ProxyCommand
//! flow that ties them to a transport ([`proxy`]); and, from a name typed, which instance it means ([`names`]).

pub mod cache;
pub mod endpoint;
pub(crate) mod names;
pub mod proxy;
pub(crate) mod resolve;
