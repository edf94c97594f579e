//! The simulated AWS (being written).
