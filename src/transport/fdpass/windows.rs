//! The Windows side of [`super`]: there is nothing to hand a descriptor to.

use std::fs::File;
use std::net::TcpStream;
use std::process::Command;

use super::HandOverError;

/// Never made on Windows.
pub(crate) enum RelayEnd {}

pub(crate) fn hand_over_socket(_output: &File, _socket: &TcpStream) -> Result<(), HandOverError> {
    Err(HandOverError::Unsupported)
}

pub(crate) fn hand_over_pair(_output: &File) -> Result<RelayEnd, HandOverError> {
    Err(HandOverError::Unsupported)
}

pub(crate) fn spawn_detached(_command: Command, end: RelayEnd) -> std::io::Result<()> {
    match end {}
}
