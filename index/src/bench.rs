//! Benchmark harness (being built).
