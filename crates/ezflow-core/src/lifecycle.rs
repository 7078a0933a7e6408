//! TODO: lifecycle
