//! The microphone as the settings window tests it: `microphones` (the input
//! devices and the one selected), the level meter (`level-meter`,
//! `level-meter-stop`) and `stats-history`'s report.
//!
//! The meter's rules: it opens the device only while it runs; it stops by
//! itself [`METER_SPAN`] after the last `level-meter` (a one-shot deadline
//! of the loop, moved by each request; nothing polls), on
//! `level-meter-stop`, when a dictation starts, or when the device fails
//! (`level-finished` with the reason); it is refused while a dictation
//! records, since the microphone is busy then.

use std::time::{Duration, Instant};

use ezflow_control::{
    DictationPoint, Event, HistoryReport, LevelEvent, LevelFinishedEvent, MemoryPoint,
    MicrophoneDevice, MicrophonesReport, Response,
};

use super::dictation::PhaseKind;
use super::event::AppEvent;
use super::event_loop::{App, MeterState};

/// How long the meter runs after the last request for it.
pub const METER_SPAN: Duration = Duration::from_secs(15);

impl App {
    pub(super) fn microphones(&self) -> Response {
        match self.parts.microphone.devices() {
            Ok(devices) => {
                let default = self.parts.microphone.default_device();
                Response::Microphones(MicrophonesReport {
                    selected: self.settings.microphone.clone(),
                    devices: devices
                        .into_iter()
                        .map(|name| MicrophoneDevice {
                            is_default: default.as_deref() == Some(name.as_str()),
                            name,
                        })
                        .collect(),
                })
            }
            Err(e) => Response::error(e),
        }
    }

    /// Starts the meter on `device`, or keeps the running one going for
    /// another [`METER_SPAN`].
    pub(super) fn level_meter(&mut self, device: String) -> Response {
        if self.dictation.phase() != PhaseKind::Idle {
            return Response::error(
                "the microphone is busy with a dictation; test it when the dictation is done",
            );
        }
        let until = Instant::now() + METER_SPAN;
        if let Some(meter) = self.meter.as_mut().filter(|m| m.device == device) {
            meter.until = until;
            return self.done();
        }
        self.stop_meter(None);
        self.meter_generation += 1;
        let generation = self.meter_generation;
        let publisher = std::sync::Arc::clone(&self.parts.publisher);
        let name = device.clone();
        let on_level = Box::new(move |level: ezflow_core::capture::Level| {
            publisher.publish(&Event::Level(LevelEvent {
                device: name.clone(),
                rms: level.rms,
                peak: level.peak,
            }));
        });
        let events = self.events.clone();
        let on_failure = Box::new(move |why: String| {
            let _ = events.send(AppEvent::MeterFailed { generation, why });
        });
        let wanted = Some(device.as_str()).filter(|d| !d.is_empty());
        match self.parts.microphone.meter(wanted, on_level, on_failure) {
            Ok(input) => {
                self.meter = Some(MeterState {
                    input,
                    device,
                    until,
                    generation,
                });
                self.done()
            }
            Err(e) => {
                let error = e.to_string();
                self.parts
                    .publisher
                    .publish(&Event::LevelFinished(LevelFinishedEvent {
                        device,
                        error: Some(error.clone()),
                    }));
                Response::error(error)
            }
        }
    }

    /// Closes the meter's device, if it is open, and says so.
    pub(super) fn stop_meter(&mut self, error: Option<String>) {
        if let Some(meter) = self.meter.take() {
            tracing::debug!(device = %meter.input.device(), "closing the level meter");
            drop(meter.input);
            self.parts
                .publisher
                .publish(&Event::LevelFinished(LevelFinishedEvent {
                    device: meter.device,
                    error,
                }));
        }
    }

    /// The meter's device failed (a stale report of an earlier meter is
    /// ignored).
    pub(super) fn meter_failed(&mut self, generation: u64, why: String) {
        if self
            .meter
            .as_ref()
            .is_some_and(|m| m.generation == generation)
        {
            tracing::warn!("the level meter's microphone failed: {why}");
            self.stop_meter(Some(format!(
                "the microphone stopped working ({why}); check that it is connected, or pick \
                 another one"
            )));
        }
    }

    /// The recent dictations and memory samples.
    pub(super) fn history(&self) -> HistoryReport {
        HistoryReport {
            dictations: self
                .dictation
                .stats()
                .history()
                .map(|d| DictationPoint {
                    at: d.at,
                    audio_ms: d.sample.audio.as_millis() as u64,
                    latency_ms: d.sample.latency.as_millis() as u64,
                    real_time_factor: d.sample.real_time_factor(),
                })
                .collect(),
            memory: self
                .memory
                .samples()
                .map(|m| MemoryPoint {
                    at: m.at,
                    pss_bytes: m.pss_bytes,
                    why: m.why.to_owned(),
                })
                .collect(),
        }
    }
}
