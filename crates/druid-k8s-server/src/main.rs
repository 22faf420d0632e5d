//! The `druid-k8s` command-line tool.
fn main() {}
