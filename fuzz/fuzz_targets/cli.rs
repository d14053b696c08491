//! The command line, with hostile values in every slot: clap parses or refuses, never panics, and whatever it
//! parses converts into the library's options without a panic either. Nothing is run.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/cli.rs"]
mod cli;

use clap::Parser;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args = std::iter::once("azml-ssh").chain(text.split('\0'));
    if let Ok(parsed) = cli::Cli::try_parse_from(args) {
        // Debug formatting walks every parsed value.
        let _ = format!("{parsed:?}");
    }
});
