//! The deliberate encoder regression that shows the instruction gate failing still applies to the encoder.
//!
//! `instructions/testdata/encoder-regression.patch` adds one extra pass over the data to
//! `Event::encode` (+2.0 % instructions on a 256-byte event); the README shows `ci/instructions`
//! exiting 3 with it applied. If the encoder changes so that the patch no longer applies, this
//! test says so instead of the demonstration silently rotting.

use std::path::Path;
use std::process::Command;

#[test]
fn encoder_regression_patch_applies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let patch = root.join("instructions/testdata/encoder-regression.patch");
    assert!(patch.is_file(), "{} is missing", patch.display());
    let out = Command::new("git")
        .arg("apply")
        .arg("--check")
        .arg(&patch)
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{} no longer applies to server/src/frame.rs: {}; re-create it (see the README's CI section)",
        patch.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
