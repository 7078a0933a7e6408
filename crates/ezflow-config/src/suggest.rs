//! The typo suggester: "did you mean …?" for unknown settings keys,
//! misspelt values and hotkey names. One edit distance for the workspace.

/// Suggests the candidate nearest to `input`, if one is near enough to be a
/// typo rather than a different word.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input = input.to_lowercase().replace('-', "_");
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = if input.len() >= 3 && c.starts_with(input.as_str()) {
            // A prefix ("lang", "idle") is as good as a one-letter slip.
            1
        } else {
            edit_distance(&input, c)
        };
        let limit = (c.chars().count() / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent swaps, the
/// commonest typo (`idle_unlaod`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos_only() {
        let keys = ["model", "language", "threads", "idle_unload"];
        assert_eq!(closest("idle_unlaod", keys), Some("idle_unload"));
        assert_eq!(closest("idle-unload", keys), Some("idle_unload"));
        assert_eq!(closest("Model", keys), Some("model"));
        assert_eq!(closest("lang", keys), Some("language"));
        assert_eq!(closest("thread", keys), Some("threads"));
        assert_eq!(closest("hotkey", keys), None);
        assert_eq!(closest("x", keys), None);
    }
}
