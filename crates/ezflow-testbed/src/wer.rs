//! Word error rate: how many words a transcript gets wrong against its
//! reference text. The one normalisation of words (and the one edit
//! distance) that every measurement uses: the tests, the encoder-window
//! sweep (`crates/ezflow-core/examples/window_sweep.rs`) and the benchmark
//! (`ezflow-bench wer`, which `scripts/bench_transcription.py` calls), so
//! they all give the same figure for the same transcript.

/// A text as the words that are compared: lower case, split at whitespace
/// and hyphens, punctuation removed (apostrophes kept), and the digits that
/// occur in our sentences written as words.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| match w.as_str() {
            "1" => "one".to_owned(),
            "2" => "two".to_owned(),
            "3" => "three".to_owned(),
            "4" => "four".to_owned(),
            "5" => "five".to_owned(),
            _ => w,
        })
        .collect()
}

/// The word-level edits (substitutions, deletions, insertions) that turn a
/// reference into a transcript, and how many words the reference has.
/// Counts rather than a rate, so that rates can be pooled over clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WordErrors {
    /// The fewest word edits from the reference to the transcript.
    pub edits: usize,
    /// The reference's words.
    pub reference_words: usize,
}

impl WordErrors {
    /// Edits over reference words. An empty reference scores 0 against an
    /// empty transcript and 1 against anything else.
    pub fn rate(&self) -> f64 {
        if self.reference_words == 0 {
            return if self.edits == 0 { 0.0 } else { 1.0 };
        }
        self.edits as f64 / self.reference_words as f64
    }
}

impl std::ops::Add for WordErrors {
    type Output = WordErrors;

    fn add(self, other: WordErrors) -> WordErrors {
        WordErrors {
            edits: self.edits + other.edits,
            reference_words: self.reference_words + other.reference_words,
        }
    }
}

impl std::iter::Sum for WordErrors {
    fn sum<I: Iterator<Item = WordErrors>>(iter: I) -> WordErrors {
        iter.fold(WordErrors::default(), |a, b| a + b)
    }
}

/// The word edits between `reference` and `hypothesis` after [`words`].
pub fn word_errors(reference: &str, hypothesis: &str) -> WordErrors {
    let r = words(reference);
    let h = words(hypothesis);
    let mut previous: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut current = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let substitution = previous[j] + usize::from(rw != hw);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    WordErrors {
        edits: previous[h.len()],
        reference_words: r.len(),
    }
}

/// Word error rate: word-level edit distance over the reference length.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    word_errors(reference, hypothesis).rate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_error_rate_counts_edits() {
        assert_eq!(word_error_rate("a b c d", "a b c d"), 0.0);
        assert_eq!(word_error_rate("a b c d", "a x c d"), 0.25);
        assert_eq!(word_error_rate("a b c d", "a c d"), 0.25);
        assert_eq!(word_error_rate("a b c d", "a b c d e f"), 0.5);
        assert_eq!(word_error_rate("Hello, World!", "hello world"), 0.0);
    }

    #[test]
    fn words_are_normalised_once_for_everyone() {
        assert_eq!(
            words("Twenty-two, at 5 o'clock: 3 PM!"),
            ["twenty", "two", "at", "five", "o'clock", "three", "pm"]
        );
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("", "something"), 1.0);
    }

    #[test]
    fn counts_pool_over_clips() {
        let pooled: WordErrors = [
            word_errors("a b c d", "a x c d"),
            word_errors("e f", "e f g"),
        ]
        .into_iter()
        .sum();
        assert_eq!(
            pooled,
            WordErrors {
                edits: 2,
                reference_words: 6
            }
        );
    }
}
