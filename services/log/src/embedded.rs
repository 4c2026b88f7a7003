//! embedded backend (to be written)
