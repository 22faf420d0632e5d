//! `cargo xtask bench`: end-to-end benchmark through the server binary (being written).

use std::path::Path;

use anyhow::{Result, bail};

/// `cargo xtask bench`.
pub fn main(_root: &Path, _args: &[String]) -> Result<()> {
    bail!("cargo xtask bench is not implemented yet")
}
