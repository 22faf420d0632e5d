//! druid-k8s-sim (being built; see ARCHITECTURE.md).
