//! The last thing that went wrong, as the tray's detail, `status` and the
//! answers to waiting requests show it. Every part that meets a problem
//! reports it here, so it is logged once and shown in one way.
//!
//! It must not decide when a problem is over: a new recording clears it
//! (`dictation.rs`).

use ezflow_control::Response;

#[derive(Default)]
pub struct LastError(Option<String>);

impl LastError {
    /// Logs `message` as a warning and keeps it for display.
    pub fn set(&mut self, message: String) {
        tracing::warn!("{message}");
        self.0 = Some(message);
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }

    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The answer to a request that is done: the last error if there was
    /// one, otherwise `done` with `state`.
    pub fn or_done(&self, state: &str) -> Response {
        match &self.0 {
            Some(error) => Response::error(error),
            None => Response::done(state),
        }
    }
}
