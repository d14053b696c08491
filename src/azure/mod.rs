//! Azure Resource Manager, as azml-ssh needs it: which cloud, signing in, the ARM client with its retry rules,
//! compute resource IDs, the compute document parsed once into a typed `compute::Instance`, discovery of
//! instances, and starting/stopping them with a single flight across processes; training jobs and the way to their
//! nodes' SSH services (`job`).
//!
//! Below this folder are only `transport` (TLS trust, the tunnel gateway's address) and `util`.

pub mod arm;
pub mod cloud;
pub mod compute;
pub mod credential;
pub mod discover;
pub(crate) mod http;
pub(crate) mod idle;
pub mod job;
pub mod lifecycle;
pub mod resource_id;
pub(crate) mod schedule;
pub mod session;
pub(crate) mod token_cache;
pub(crate) mod windows_zones;
