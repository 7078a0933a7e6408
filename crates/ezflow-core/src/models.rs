//! TODO: models
