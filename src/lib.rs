//! azml-ssh: `ssh <alias>` for Azure Machine Learning compute instances.
//!
//! The binary is a thin shell around these modules; each has one job:
//! - [`resource_id`]: the compute's ARM ID, validated before anything else runs;
//! - [`cloud`], [`credential`], [`http`], [`arm`]: reaching Azure Resource Manager;
//! - [`compute`], [`resolve`]: from the compute document to an endpoint, or a precise reason there is none;
//! - [`cache`]: the last known endpoint, so warm connections make no Azure call;
//! - [`relay`], [`proxy`]: the ProxyCommand itself.

pub mod arm;
pub mod binpath;
pub mod cache;
pub mod cloud;
pub mod commands;
pub mod compute;
pub mod configure;
pub mod credential;
pub mod discover;
pub mod doctor;
pub mod fdpass;
pub mod fsutil;
pub mod hosts;
pub mod http;
pub mod httpproxy;
pub mod lifecycle;
pub mod logging;
pub mod progress;
pub mod proxy;
pub mod relay;
pub mod resolve;
pub mod resource_id;
pub mod runtime;
pub mod sshconfig;
pub mod status;
pub mod text;
pub mod tokencache;
pub mod tunnel;
pub mod zerocopy;
