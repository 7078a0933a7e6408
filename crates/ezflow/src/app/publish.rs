//! Telling open windows what changed: [`EventSink`], the loop's one way to
//! put an event on the control socket's `watch` connections. The real one
//! is `ezflow_control::EventPublisher` (it never blocks; a watcher that
//! falls behind is dropped); the unit tests record what was published.
//!
//! An interface only: when to publish is decided by the loop and its parts.

use ezflow_control::{Event, EventPublisher};

pub trait EventSink: Send + Sync {
    fn publish(&self, event: &Event);
}

impl EventSink for EventPublisher {
    fn publish(&self, event: &Event) {
        EventPublisher::publish(self, event);
    }
}
