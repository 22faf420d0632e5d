//! druid-k8s-model (being built; see ARCHITECTURE.md).
