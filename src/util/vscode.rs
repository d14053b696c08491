//! VS Code's user settings (`settings.json`): where they may be, and reading them bounded, comments and all.

use std::path::{Path, PathBuf};

use crate::util::{dirs, fs, jsonc};

/// More than any VS Code settings file holds.
const MAX_SETTINGS_BYTES: u64 = 4 << 20;

/// Where VS Code's user settings.json may be: the platform's place first (`%APPDATA%\Code\User` on Windows),
/// then the other known ones under the home directory.
pub(crate) fn settings_candidates(home: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = dirs::vscode_settings().into_iter().collect();
    candidates.extend([
        home.join(".config/Code/User/settings.json"),
        home.join("Library/Application Support/Code/User/settings.json"),
        home.join(".config/Code - Insiders/User/settings.json"),
    ]);
    candidates
}

/// The first of `candidates` that exists, parsed (VS Code's settings may hold comments and trailing commas).
pub(crate) fn read_settings(candidates: &[PathBuf]) -> Option<(PathBuf, serde_json::Value)> {
    let path = candidates.iter().find(|p| p.is_file())?;
    // A settings file is small; a huge one is not VS Code's, and memory stays bounded. Whatever replaced it since
    // (a FIFO, say) is not waited on.
    let bytes = fs::read_regular(path, MAX_SETTINGS_BYTES).ok()??;
    let json = jsonc::parse(std::str::from_utf8(&bytes).ok()?).ok()?;
    Some((path.clone(), json))
}
