//! azml-ssh: `ssh <alias>` for Azure Machine Learning compute instances.
//!
//! The crate is layered; each folder may use the ones listed before it, never one after it:
//! - [`util`]: directories, atomic files, time budgets, text, logging, the async runtime;
//! - [`transport`]: moving the SSH stream (relay, splice, fd passing, the WebSocket tunnel, HTTP CONNECT, TLS);
//!   the only place with `unsafe` code;
//! - [`azure`]: Resource Manager — cloud, sign-in, the ARM client, compute IDs and documents, discovery,
//!   starting and stopping;
//! - [`connect`]: from a compute ID to a live stream — endpoint choice, lookup, the endpoint cache, the proxy —
//!   and what `code` and `jupyter` decide about the instance they work on;
//! - [`sshconf`]: the user's ssh config and azml-ssh's include file, and the rules that put found instances in
//!   it (uses `azure::resource_id` and `azure::discover`'s results only);
//! - [`cmd`]: the commands, the only code that writes to the user.
//!
//! Items are `pub(crate)` unless the binary (`main.rs`, `cli.rs`) or the integration tests use them; every `pub`
//! item is documented.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod azure;
pub mod cmd;
pub mod connect;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod sshconf;
pub mod transport;
pub mod util;
