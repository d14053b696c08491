//! Small helpers every layer may use; nothing here knows about Azure, ssh or the command line.
//!
//! - [`dirs`]: every lookup of HOME, XDG and the like, in one place;
//! - [`fs`]: private directories, atomic writes, file locks;
//! - [`text`]: one-line error text, durations and clocks;
//! - [`logging`]: diagnostics on stderr and in an optional log file;
//! - [`runtime`]: the async runtime the commands run their Azure calls on;
//! - [`time`]: Unix time for cache entries.

pub mod dirs;
pub mod fs;
pub mod logging;
pub mod runtime;
pub mod text;
pub mod time;
