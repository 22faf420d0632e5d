//! druid-k8s-adapters (being built; see ARCHITECTURE.md).
