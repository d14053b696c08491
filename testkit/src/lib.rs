//! What azml-ssh's tests and its demo (`examples/demo_arm.rs`) run against in place of Azure and the instance,
//! all on 127.0.0.1: a mock Azure Resource Manager that follows the REST documents ([`mock_arm`]), a mock Azure ML
//! gateway for the WebSocket tunnel ([`gateway`]), an HTTP CONNECT proxy ([`connect_proxy`]), a test CA for real
//! TLS ([`tls`]), and a throwaway sshd with its own host key and config ([`sshd`]).

pub mod connect_proxy;
pub mod gateway;
pub mod mock_arm;
pub mod mock_jobs;
pub mod sshd;
pub mod tls;
