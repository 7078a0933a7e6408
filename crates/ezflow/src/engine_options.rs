//! Settings onto engine options: the one place where the user's settings
//! (`ezflow-config`) become the option types of the engine and the model
//! lifecycle (`ezflow-core`), which know nothing of settings files.

use ezflow_config::settings::{IdleUnload, Settings};
use ezflow_core::engine::{DecodeOptions, EncoderWindow};
use ezflow_core::lifecycle::UnloadPolicy;

/// The lifecycle's policy for the `idle_unload` setting.
pub fn unload_policy(idle_unload: IdleUnload) -> UnloadPolicy {
    match idle_unload {
        IdleUnload::Never => UnloadPolicy::Never,
        IdleUnload::Immediately => UnloadPolicy::Immediately,
        IdleUnload::After(after) => UnloadPolicy::After(after),
    }
}

/// How a dictation is decoded with these settings: their language and
/// threads, the encoder window fitted to the clip.
pub fn decode_options(settings: &Settings) -> DecodeOptions {
    DecodeOptions {
        language: settings.language.code(),
        threads: settings.threads.resolve(),
        window: EncoderWindow::Fitted,
        beam_size: settings.beam_size.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_idle_unload_setting_has_its_policy() {
        assert_eq!(unload_policy(IdleUnload::Never), UnloadPolicy::Never);
        assert_eq!(
            unload_policy(IdleUnload::Immediately),
            UnloadPolicy::Immediately
        );
        let after = Duration::from_secs(90);
        assert_eq!(
            unload_policy(IdleUnload::After(after)),
            UnloadPolicy::After(after)
        );
    }

    #[test]
    fn decode_options_carry_the_language_code_and_threads() {
        let settings = Settings {
            language: "german".parse().expect("a known language"),
            threads: ezflow_config::settings::Threads::new(3).expect("3 threads"),
            ..Settings::default()
        };
        let options = decode_options(&settings);
        assert_eq!(options.language, Some("de"));
        assert_eq!(options.threads, 3);
        assert!(matches!(options.window, EncoderWindow::Fitted));
        assert_eq!(decode_options(&Settings::default()).language, None);
    }
}
