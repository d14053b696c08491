//! The integration tests, as one binary (as ripgrep does): the crate and the shared harness in `common` are
//! compiled and linked once. Every test drives the real `azml-ssh` binary, real OpenSSH (client and a throwaway
//! sshd on 127.0.0.1), scp and git, against mocks of Azure's servers that follow the REST documents.

mod common;

mod arm_answers;
mod burst;
mod cli;
mod config_command;
mod credentials;
mod demo;
mod doctor;
mod fdpass;
mod golden_render;
mod hardening;
mod identity_props;
mod include_props;
mod layering;
mod lifecycle;
mod real_azure;
mod ssh_end_to_end;
mod stream;
mod tunnel;
mod wine;
mod work;
