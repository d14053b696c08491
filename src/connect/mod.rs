//! Connecting: from a compute resource ID to a live SSH stream. Pure endpoint choice ([`endpoint`]), the ARM
//! lookup that starts a stopped instance (`resolve`), the last known endpoint ([`cache`]), and the ProxyCommand
//! flow that ties them to a transport ([`proxy`]); and what `code` and `jupyter` decide about an instance they work
//! on ([`work`]).

pub mod cache;
pub(crate) mod checkup;
pub mod endpoint;
pub(crate) mod names;
pub mod proxy;
pub(crate) mod resolve;
pub mod work;
