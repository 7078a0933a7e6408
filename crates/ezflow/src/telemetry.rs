//! `ezflow telemetry …` and the command line's own telemetry: opening the
//! client, recording what a command did, and delivering after the command's
//! work is done. Telemetry problems are logged and never change a command's
//! result.

use crate::output::outln;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ezflow_config::settings::Settings;
use ezflow_core::telemetry::{
    schema, Context, Delivery, EndpointSource, SendOutcome, Telemetry, PRINT_ENV,
};

use crate::cli::TelemetryCommand;

/// How long a command-line run may spend delivering at exit.
const CLI_SEND_TIMEOUT: Duration = Duration::from_secs(5);

fn context() -> Context {
    Context::detect(env!("CARGO_PKG_VERSION"))
}

/// The client for a command that records events, or `None` (logged) if
/// its directory cannot be used: telemetry never stops a command.
pub fn open(settings: &Settings) -> Option<Telemetry> {
    match Telemetry::open(settings, context()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "telemetry unavailable");
            None
        }
    }
}

/// Logs a failed record instead of failing the caller.
pub fn log_failure<T>(result: Result<T, ezflow_core::telemetry::TelemetryError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not queue a telemetry event");
    }
}

/// Delivers what waits, after the command's own output is out.
pub fn deliver_at_exit(telemetry: &Telemetry) {
    if !telemetry.is_enabled() {
        return;
    }
    match telemetry.send_pending(&Delivery::new(CLI_SEND_TIMEOUT)) {
        Ok(outcome) => tracing::debug!(?outcome, "telemetry delivery at exit"),
        Err(e) => tracing::warn!(error = %e, "telemetry delivery failed"),
    }
}

pub fn run(command: TelemetryCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        TelemetryCommand::Status => status(settings),
        TelemetryCommand::Enable => set_enabled(settings, true),
        TelemetryCommand::Disable => set_enabled(settings, false),
        TelemetryCommand::Preview => preview(settings),
        TelemetryCommand::Sent => sent(settings),
        TelemetryCommand::Send => send(settings),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn client(settings: &Settings) -> anyhow::Result<Telemetry> {
    Telemetry::open(settings, context()).context("cannot open the telemetry queue")
}

fn endpoint_line(endpoint: Option<&(String, EndpointSource)>) -> String {
    match endpoint {
        Some((url, EndpointSource::Settings)) => format!("{url} (from the settings file)"),
        Some((url, EndpointSource::Build)) => format!("{url} (built into this version)"),
        None => "none: this build has no endpoint and the settings name none, so nothing is sent"
            .to_owned(),
    }
}

fn status(settings: &Settings) -> anyhow::Result<()> {
    let telemetry = client(settings)?;
    let status = telemetry.status()?;
    outln!(
        "telemetry:   {}",
        if status.enabled {
            "on (ezflow telemetry disable turns it off)"
        } else {
            "off (nothing is recorded or sent; ezflow telemetry enable turns it on)"
        }
    );
    outln!("endpoint:    {}", endpoint_line(status.endpoint.as_ref()));
    match status.oldest_queued {
        Some(oldest) => outln!(
            "queued:      {} events, the oldest from {oldest}",
            status.queued
        ),
        None => outln!("queued:      0 events"),
    }
    match &status.last_send {
        Some(record) => outln!("last send:   {} ({})", when(record.at), record.outcome),
        None => outln!("last send:   never"),
    }
    outln!("files:       {}", status.dir.display());
    if std::env::var_os(PRINT_ENV).is_some() {
        outln!("{PRINT_ENV} is set: batches are printed to stderr instead of sent.");
    }
    Ok(())
}

fn set_enabled(settings: &Settings, enabled: bool) -> anyhow::Result<()> {
    let mut new = settings.clone();
    new.telemetry = enabled;
    // Consent draws a line: nothing recorded before it may ever be sent,
    // so the queue starts empty on enable and is deleted on disable.
    let dropped = client(settings)?.status()?.queued;
    let telemetry = client(&new)?;
    telemetry.forget_pending()?;
    new.save().context("cannot save the settings")?;
    if enabled {
        outln!("Anonymous usage statistics are on.");
        outln!(
            "Sent: app start, each transcription (audio length bucket, model, real-time factor),"
        );
        outln!(
            "model downloads; with app version, OS and CPU type, and the hour. Never text, audio,"
        );
        outln!("file names or any identifier. See it first: ezflow telemetry preview.");
        if telemetry.endpoint().is_none() {
            outln!("Note: {}.", endpoint_line(None));
        }
    } else {
        outln!("Anonymous usage statistics are off.");
        if dropped > 0 {
            outln!("Deleted {dropped} events that had not been sent.");
        }
    }
    Ok(())
}

fn preview(settings: &Settings) -> anyhow::Result<()> {
    let telemetry = client(settings)?;
    if !telemetry.is_enabled() {
        outln!("Telemetry is off: nothing is recorded, so nothing will be sent.");
        return Ok(());
    }
    match telemetry.preview()? {
        Some(batch) => outln!("{}", serde_json::to_string_pretty(&batch)?),
        None => outln!("Nothing is queued."),
    }
    Ok(())
}

fn sent(settings: &Settings) -> anyhow::Result<()> {
    let telemetry = client(settings)?;
    let log = telemetry.sent_log()?;
    if log.is_empty() {
        outln!("Nothing has been sent.");
    }
    for record in log {
        outln!(
            "# {} to {}: {}",
            when(record.at),
            record.endpoint,
            record.outcome
        );
        if let Some(batch) = record.batch {
            outln!("{}", serde_json::to_string_pretty(&batch)?);
        }
    }
    Ok(())
}

fn send(settings: &Settings) -> anyhow::Result<()> {
    let telemetry = client(settings)?;
    match telemetry.send_pending(&Delivery::new(CLI_SEND_TIMEOUT))? {
        SendOutcome::Disabled => outln!("Telemetry is off: nothing to send."),
        SendOutcome::NoEndpoint { queued } => {
            outln!("{queued} events wait, but {}.", endpoint_line(None))
        }
        SendOutcome::Done {
            batches,
            events,
            dropped,
        } => {
            outln!("Sent {events} events in {batches} batches.");
            if dropped > 0 {
                outln!("The collector refused {dropped} batches; they were dropped (see ezflow telemetry status).");
            }
        }
        SendOutcome::RetryLater { events, reason, .. } => {
            anyhow::bail!("sent {events} events, then stopped: {reason}; the rest stays queued")
        }
    }
    Ok(())
}

/// A Unix time as UTC, to the minute (local records only).
fn when(at: i64) -> String {
    let hour = schema::Hour::containing(at);
    let minute = at.rem_euclid(3600) / 60;
    format!(
        "{}:{minute:02} UTC",
        hour.to_string().trim_end_matches(":00Z")
    )
}
