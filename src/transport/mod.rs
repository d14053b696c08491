//! Moving the SSH stream: ssh's stdin/stdout taken over (`stdio`, one module per platform), the relay between
//! them and a TCP socket (with `splice(2)` where it pays), the descriptor hand-over of `ProxyUseFdpass` (Unix),
//! the Azure ML WebSocket tunnel and the HTTP CONNECT proxy it may go through, and the TLS trust every HTTPS
//! connection uses.
//!
//! This is the only place that talks to the kernel directly: every `unsafe` block and raw system call of the
//! crate lives under this folder (but for Windows ACLs in `util::windows_acl`), each with a SAFETY comment. Nothing here knows about Azure Resource Manager.
#![allow(unsafe_code)]

pub mod fdpass;
pub(crate) mod http_proxy;
pub mod relay;
pub(crate) mod splice;
pub(crate) mod stdio;
pub mod tls;
pub mod tunnel;
