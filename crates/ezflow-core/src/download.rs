//! TODO: download
