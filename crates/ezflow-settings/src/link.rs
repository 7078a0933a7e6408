//! The window's line to the running app, through `ezflow-control`'s client
//! (`docs/control-socket.md`, `docs/settings-protocol-draft.md`).
//!
//! It owns turning the page's request objects into [`Request`]s (a request
//! the protocol does not know is refused here, before the socket), sending
//! them, and handing the answers and the `watch` stream's events back as
//! JSON objects in their wire form. It knows nothing of what the requests
//! mean: the frontend builds them and reads the answers. This is the only
//! module that touches the socket.

use std::path::PathBuf;
use std::time::Duration;

use ezflow_control::{ControlError, Event, Request};
use serde_json::Value;

/// How long one request may take, connecting, sending and answering
/// together. Every request the window sends answers at once (downloads and
/// imports run in the background), so this only guards against a hung app.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Reaching the app failed. The messages are one line, fit for the window.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Control(#[from] ControlError),
    #[error("not a request EZ Flow knows: {reason}")]
    NotARequest { reason: String },
    #[error("EZ Flow's answer could not be handed to the page: {reason}")]
    Unrepresentable { reason: String },
}

impl LinkError {
    /// Whether this means no app is there to talk to (the window then offers
    /// to start it).
    pub fn is_not_running(&self) -> bool {
        matches!(
            self,
            LinkError::Control(
                ControlError::NotRunning { .. }
                    | ControlError::NoRuntimeDir
                    | ControlError::RelativeRuntimeDir { .. }
            )
        )
    }
}

/// Where the app listens.
pub fn socket_path() -> Result<PathBuf, LinkError> {
    Ok(ezflow_control::socket_path()?)
}

/// The page's request object as a [`Request`]; `watch` is not one the
/// page may send (the event stream is [`Watch`]).
fn parse_request(request: Value) -> Result<Request, LinkError> {
    let request: Request = serde_json::from_value(request).map_err(|e| LinkError::NotARequest {
        reason: e.to_string(),
    })?;
    if matches!(request, Request::Watch) {
        return Err(LinkError::NotARequest {
            reason: "watch is the window's own event stream".to_owned(),
        });
    }
    Ok(request)
}

/// Sends one request object and returns the app's answer object as it is on
/// the wire (`{"ok":false,…}` answers included: they are the app's to
/// explain).
pub fn request(request: Value) -> Result<Value, LinkError> {
    let request = parse_request(request)?;
    let path = socket_path()?;
    let response = ezflow_control::send_with_timeout(&path, &request, REQUEST_TIMEOUT)?;
    serde_json::to_value(&response).map_err(|e| LinkError::Unrepresentable {
        reason: e.to_string(),
    })
}

/// An open `watch` connection: the app's events as JSON objects.
pub struct Watch {
    events: ezflow_control::Watch,
}

impl Watch {
    /// Opens a connection and turns it into an event stream.
    pub fn open() -> Result<Watch, LinkError> {
        let path = socket_path()?;
        Ok(Watch {
            events: ezflow_control::watch(&path)?,
        })
    }

    /// The app's state when the stream began.
    pub fn state(&self) -> &str {
        self.events.state()
    }

    /// Blocks for the next event. `Ok(None)` when the app closed the stream.
    /// A line that is not an event is logged and skipped.
    pub fn next_event(&mut self) -> Result<Option<Value>, LinkError> {
        loop {
            match self.events.next() {
                None => return Ok(None),
                Some(Ok(Event::Unknown)) => continue,
                Some(Ok(event)) => {
                    return serde_json::to_value(&event).map(Some).map_err(|e| {
                        LinkError::Unrepresentable {
                            reason: e.to_string(),
                        }
                    })
                }
                Some(Err(ControlError::MalformedResponse { reason, .. })) => {
                    tracing::warn!("skipped an event line that is not an event: {reason}");
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_pages_requests_are_the_protocols() {
        assert_eq!(
            parse_request(json!({"cmd": "settings"})).unwrap(),
            Request::Settings
        );
        let set =
            parse_request(json!({"cmd": "settings-set", "values": {"idle_unload": "5m"}})).unwrap();
        assert!(matches!(set, Request::SettingsSet { .. }));
        let import =
            parse_request(json!({"cmd": "model-import", "path": "/m", "quantize": "q8_0"}))
                .unwrap();
        assert!(matches!(import, Request::ModelImport { .. }));
        let meter = parse_request(json!({"cmd": "level-meter", "device": ""})).unwrap();
        assert!(matches!(meter, Request::LevelMeter { .. }));
    }

    #[test]
    fn anything_else_is_refused_before_the_socket() {
        for bad in [
            json!({}),
            json!([1]),
            json!({"cmd": 3}),
            json!({"cmd": "fly"}),
            json!({"cmd": "model-download"}),
            json!({"cmd": "watch"}),
        ] {
            let e = parse_request(bad.clone()).unwrap_err();
            assert!(matches!(e, LinkError::NotARequest { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn no_app_means_not_running() {
        let e = LinkError::Control(ControlError::NotRunning {
            path: PathBuf::from("/r/control.sock"),
        });
        assert!(e.is_not_running());
        assert!(e.to_string().contains("not running"), "{e}");
    }
}
