//! azml-ssh: `ssh <alias>` for Azure Machine Learning compute instances.
//!
//! The crate is layered. Each folder uses only the floors named after it (the layering test,
//! `tests/it/layering.rs`, holds the code to exactly this):
//! - [`util`] (nothing): directories, atomic files, time budgets, text, logging, the async runtime, VS Code's
//!   settings;
//! - [`transport`] (`util`): moving the SSH stream (relay, splice, fd passing, the WebSocket tunnel, HTTP
//!   CONNECT, TLS); the only place with `unsafe` code;
//! - [`azure`] (`transport`, `util`): Resource Manager — cloud, sign-in, the ARM client, compute IDs and
//!   documents, discovery, starting and stopping;
//! - [`connect`] (`azure`, `transport`, `util`): from a compute ID or a name typed to a live stream — endpoint
//!   choice, lookup, the endpoint cache, the proxy;
//! - [`sshconf`] (`azure`, `util`): the user's ssh config, the ssh programs that read it, and azml-ssh's include
//!   file, with the rules that put found instances in it;
//! - [`cmd`] (all of the above): the commands, the only code that writes to the user; a feature with several
//!   files has a folder of its own (`cmd::doctor`, `cmd::open` for `code`/`jupyter`/`forward`).
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
