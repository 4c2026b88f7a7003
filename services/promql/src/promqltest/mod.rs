//! Runner for Prometheus' promqltest scripts (`load`, `clear`, `eval`).
