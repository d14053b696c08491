//! Turning other people's error text into the single stderr line a ProxyCommand user gets.

use std::error::Error;

/// Folds whitespace (including newlines) and drops the troubleshooting links Azure SDK errors append.
pub fn one_line(text: &str) -> String {
    let text = text.split("To troubleshoot, visit").next().unwrap_or(text);
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() { "no details".into() } else { folded }
}

/// Like [`one_line`], and cut to `max` characters: error bodies from servers can be whole HTML pages.
pub fn one_line_max(text: &str, max: usize) -> String {
    let line = one_line(text);
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// An error and its sources joined with ": ", without repeating a source the outer message already quotes.
/// reqwest's top-level message ("error sending request") says nothing; the reason is in the chain.
pub fn error_chain(error: &dyn Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    one_line(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_tool_output_and_drops_links() {
        let text = "AzureCliCredential authentication failed. ERROR: Please run 'az login' to setup account.\n\nTo troubleshoot, visit https://aka.ms/x#azure-cli";
        assert_eq!(
            one_line(text),
            "AzureCliCredential authentication failed. ERROR: Please run 'az login' to setup account."
        );
        assert_eq!(one_line("\n \t"), "no details");
    }

    #[test]
    fn one_line_max_cuts_on_a_character_boundary() {
        assert_eq!(one_line_max("ééééé", 3), "ééé…");
        assert_eq!(one_line_max("abc", 3), "abc");
    }

    #[test]
    fn error_chain_includes_sources_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(error_chain(&outer), "refused");
    }
}
