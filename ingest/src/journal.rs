//! Journal report unwrapping (being built).
