//! The context every event carries: app version, OS family and release,
//! CPU architecture. Read once per process from the running system; each
//! value is reduced to the schema's short alphabet so nothing unexpected
//! (a custom kernel name, a build path) can ride along.

use ezflow_telemetry_schema::{Arch, Event, EventKind, Hour, OsFamily, MAX_SHORT_TEXT};

/// What the events of this process say about where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub app_version: String,
    pub os: OsFamily,
    pub os_version: String,
    pub arch: Arch,
}

impl Context {
    /// The running system, with `app_version` from the calling binary.
    pub fn detect(app_version: &str) -> Context {
        Context {
            app_version: sanitize(app_version),
            os: OsFamily::current(),
            os_version: sanitize(&os_version()),
            arch: Arch::current(),
        }
    }

    /// Wraps `kind` into a full event for `hour`.
    pub fn event(&self, hour: Hour, kind: EventKind) -> Event {
        Event {
            hour,
            app_version: self.app_version.clone(),
            os: self.os,
            os_version: self.os_version.clone(),
            arch: self.arch,
            event: kind,
        }
    }
}

/// The OS release as `<distribution>-<version>` on Linux (`debian-12`,
/// `ubuntu-24.04`), from os-release; `unknown` where it cannot be read.
fn os_version() -> String {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_owned())
                .filter(|v| !v.is_empty())
        };
        match (field("ID"), field("VERSION_ID")) {
            (Some(id), Some(version)) => format!("{id}-{version}"),
            (Some(id), None) => id,
            _ => "unknown".to_owned(),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        "unknown".to_owned()
    }
}

/// Keeps only the characters the schema allows, at most its length.
fn sanitize(value: &str) -> String {
    let kept: String = value
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
        .take(MAX_SHORT_TEXT)
        .collect();
    if kept.is_empty() {
        "unknown".to_owned()
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_reduced_to_the_schema_alphabet() {
        assert_eq!(sanitize("0.1.0"), "0.1.0");
        assert_eq!(
            sanitize("Debian GNU/Linux 12 (bookworm)"),
            "debiangnulinux12bookworm"
        );
        assert_eq!(sanitize(&"x".repeat(100)).len(), MAX_SHORT_TEXT);
        assert_eq!(sanitize("/!"), "unknown");
    }

    #[test]
    fn the_detected_context_passes_the_collectors_rules() {
        let ctx = Context::detect(env!("CARGO_PKG_VERSION"));
        let now = ezflow_telemetry_schema::unix_now();
        let event = ctx.event(
            Hour::containing(now),
            EventKind::AppLaunched {
                surface: ezflow_telemetry_schema::Surface::Cli,
            },
        );
        assert_eq!(event.validate(now), Ok(()));
    }
}
