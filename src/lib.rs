//! azml-ssh: `ssh <alias>` for Azure Machine Learning compute instances.
//!
//! The crate is layered; each folder may use the ones listed before it, never one after it:
//! - [`util`]: directories, atomic files, text, logging, the async runtime;
//! - [`transport`]: moving the SSH stream (relay, splice, fd passing, the WebSocket tunnel, HTTP CONNECT, TLS);
//!   the only place with `unsafe` code;
//! - [`azure`]: Resource Manager — cloud, sign-in, the ARM client, compute IDs and documents, discovery,
//!   starting and stopping;
//! - [`connect`]: from a compute ID to a live stream — endpoint choice, lookup, the endpoint cache, the proxy;
//! - [`sshconf`]: the user's ssh config and azml-ssh's include file (uses `azure::resource_id` only);
//! - [`cmd`]: the commands, the only code that writes to the user.
#![deny(unsafe_code)]

pub mod azure;
pub mod cmd;
pub mod connect;
pub mod sshconf;
pub mod transport;
pub mod util;
