//! end-to-end tests against real peers (see tests/e2e_*.rs)
