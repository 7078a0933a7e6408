//! TODO: audio
