//! Small helpers every layer may use; nothing here knows about Azure, ssh or the command line.
//!
//! - [`deadline`]: time budgets, and the one timeout error;
//! - `desktop`: opening a URL in the default browser;
//! - [`dirs`]: every lookup of HOME, XDG and the like, in one place;
//! - [`fs`]: private directories, atomic writes, file locks;
//! - [`text`]: one-line error text, durations and clocks;
//! - [`logging`]: diagnostics on stderr and in an optional log file;
//! - [`runtime`]: the async runtime the commands run their Azure calls on;
//! - [`time`]: Unix time for cache entries;
//! - `jsonc`: VS Code's JSON-with-comments settings, read as JSON;
//! - `interrupt`: Ctrl-C and its kin, however the platform delivers them;
//! - `process`: helper programs started in the background, never with a console window of their own;
//! - `acl_rule`: the Windows rule of trust (who may own and write a file), decided over data so that every
//!   platform tests it;
//! - `windows_acl` (Windows only): owner-only ACLs and the trust check on them, the one platform module here
//!   with `unsafe` code.

// Compiled where it is used (Windows) and wherever the tests run.
#[cfg(any(windows, test))]
pub(crate) mod acl_rule;
pub mod deadline;
pub(crate) mod desktop;
pub mod dirs;
pub mod fs;
pub(crate) mod interrupt;
pub(crate) mod jsonc;
pub mod logging;
pub(crate) mod process;
pub mod runtime;
pub mod state;
pub mod text;
pub mod time;
pub(crate) mod vscode;
#[cfg(windows)]
pub(crate) mod windows_acl;
