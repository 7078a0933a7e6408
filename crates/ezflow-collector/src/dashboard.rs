//! The performance dashboard at `/`: one self-contained HTML page (inline
//! CSS, no JavaScript, no external resources) rendering the same [`Stats`]
//! as `/v1/stats`. Every value that comes from the database passes through
//! [`escape`], whatever the schema allowed in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::stats::{Stats, MAX_DAYS};

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
p.empty { color: #777; }
";

/// Escapes text for use in HTML element content and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table with a header row and rows of cells; a cell is `(text, numeric)`.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<(String, bool)>]) {
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No events in this period.</p>\n");
        return;
    }
    out.push_str("<table>\n<tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (text, numeric) in row {
            let class = if *numeric { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn text(s: &str) -> (String, bool) {
    (s.to_owned(), false)
}

fn number(n: impl ToString) -> (String, bool) {
    (n.to_string(), true)
}

/// The whole page.
pub(crate) fn render(stats: &Stats) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>EZ Flow telemetry</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>EZ Flow performance dashboard</h1>\n\
         <p>{} events in the last {} days (UTC, since {}).</p>\n\
         <form method=\"get\" action=\"/\"><label>Days: <input name=\"days\" type=\"number\" \
         min=\"1\" max=\"{MAX_DAYS}\" value=\"{}\"></label> <button>Show</button></form>\n",
        stats.total_events,
        stats.days,
        escape(&stats.since),
        stats.days,
    );

    out.push_str("<h2>Transcription speed (real-time factor, lower is faster)</h2>\n");
    let rows: Vec<_> = stats
        .transcriptions
        .iter()
        .map(|t| {
            vec![
                text(&t.model),
                text(if t.gpu { "GPU" } else { "CPU" }),
                number(t.count),
                number(format!("{:.2}", t.median_real_time_factor)),
                number(format!("{:.2}", t.p95_real_time_factor)),
            ]
        })
        .collect();
    table(
        &mut out,
        &["model", "device", "transcriptions", "median", "p95"],
        &rows,
    );

    out.push_str("<h2>Events per day</h2>\n");
    let types: BTreeSet<&str> = stats
        .events_per_day
        .iter()
        .map(|d| d.event_type.as_str())
        .collect();
    let mut days: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for d in &stats.events_per_day {
        days.entry(&d.day)
            .or_default()
            .insert(&d.event_type, d.count);
    }
    let rows: Vec<_> = days
        .iter()
        .rev()
        .map(|(day, counts)| {
            let mut row = vec![text(day)];
            row.extend(
                types
                    .iter()
                    .map(|t| number(counts.get(t).copied().unwrap_or(0))),
            );
            row
        })
        .collect();
    let mut headers = vec!["day (UTC)"];
    headers.extend(types.iter().copied());
    table(&mut out, &headers, &rows);

    out.push_str("<h2>App versions</h2>\n");
    let rows: Vec<_> = stats
        .app_versions
        .iter()
        .map(|v| vec![text(&v.app_version), number(v.count)])
        .collect();
    table(&mut out, &["version", "events"], &rows);

    out.push_str("<h2>Operating systems</h2>\n");
    let rows: Vec<_> = stats
        .os
        .iter()
        .map(|o| vec![text(&o.os), text(&o.os_version), number(o.count)])
        .collect();
    table(&mut out, &["OS", "version", "events"], &rows);

    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{DayCount, TranscriptionStats, VersionCount};

    #[test]
    fn markup_in_any_value_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        // The schema cannot let such values in; the page must not trust that.
        let evil = "<img src=x onerror=alert(1)>";
        let stats = Stats {
            days: 7,
            since: evil.into(),
            total_events: 1,
            events_per_day: vec![DayCount {
                day: evil.into(),
                event_type: evil.into(),
                count: 1,
            }],
            app_versions: vec![VersionCount {
                app_version: evil.into(),
                count: 1,
            }],
            os: vec![],
            transcriptions: vec![TranscriptionStats {
                model: evil.into(),
                gpu: true,
                count: 1,
                median_real_time_factor: 0.5,
                p95_real_time_factor: 0.5,
            }],
        };
        let page = render(&stats);
        assert!(!page.contains("<img"), "{page}");
        assert_eq!(
            page.matches("&lt;img src=x onerror=alert(1)&gt;").count(),
            5
        );
    }
}
