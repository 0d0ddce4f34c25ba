//! Source paths of profiler frames shortened for reading: the one rule for flame graphs and top-frame tables.

/// A source path shortened to `crate-1.2.3/src/file.rs` (a registry crate, with its
/// version), `library/core/src/file.rs` (the standard library) or `server/src/file.rs`
/// (this workspace); other paths are kept whole, and an unknown path stays empty.
pub fn short_path(path: &str) -> &str {
    if let Some((_, rest)) = path.split_once("/registry/src/") {
        // Skip the registry index directory.
        return rest.split_once('/').map_or(rest, |(_, file)| file);
    }
    if let Some((_, rest)) = path.split_once("/rustc/") {
        // Skip the compiler's commit hash.
        return rest.split_once('/').map_or(rest, |(_, file)| file);
    }
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../");
    path.strip_prefix(workspace).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_std_and_workspace_paths_are_shortened() {
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hyper-1.7.0/src/proto/h1/io.rs"
            ),
            "hyper-1.7.0/src/proto/h1/io.rs"
        );
        assert_eq!(
            short_path("/rustc/59807616e1fa/library/core/src/fmt/mod.rs"),
            "library/core/src/fmt/mod.rs"
        );
        let own = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/src/hub.rs");
        assert_eq!(short_path(own), "server/src/hub.rs");
        assert_eq!(short_path("/elsewhere/file.rs"), "/elsewhere/file.rs");
        assert_eq!(short_path(""), "");
    }
}
