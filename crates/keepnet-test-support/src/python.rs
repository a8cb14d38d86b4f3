//! Where the tests find what `cargo xtask setup` installs: the Python environment
//! `target/test-python` (aiosmtpd, moto, pyzipper; never the system Python's packages).
//! Included with `#[path]` as the crate-level `python` module by every test crate that starts a
//! Python helper (the SMTP and S3 harnesses call `crate::python::interpreter()`).

use std::path::PathBuf;

/// The interpreter of the tests' Python environment: `target/test-python/bin/python3`, found
/// beside the test binary's target folder (the first ancestor holding cargo's `CACHEDIR.TAG`),
/// so a custom `CARGO_TARGET_DIR` or `--target` works too. Panics, naming the fix, when
/// setup has not run: a test never skips for a missing tool.
pub fn interpreter() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| panic!("no cargo target folder above {}", exe.display()));
    let python = target.join("test-python/bin/python3");
    assert!(
        python.is_file(),
        "{} is missing: the tests' Python environment is made by `cargo xtask setup` \
         (`cargo xtask ci` runs it first)",
        python.display()
    );
    python
}
