//! druid-k8s-runner (being built; see ARCHITECTURE.md).
