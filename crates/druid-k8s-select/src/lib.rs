//! druid-k8s-select (being built; see ARCHITECTURE.md).
