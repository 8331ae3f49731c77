//! How times, durations and clients are shown on pages.

use crate::clock::Timestamp;

/// A moment as pages show it: "3 minutes ago", with the exact UTC time on hover.
#[derive(Debug, Clone)]
pub struct When {
    pub relative: String,
    pub exact: String,
    pub iso: String,
    /// "2026-12-28": for columns where the day is what matters
    pub date: String,
    /// "2026-12-28 14:05 UTC": shown beside the relative time
    pub short: String,
}

pub fn when(t: Timestamp, now: Timestamp) -> When {
    let dt = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
    When {
        relative: relative(t, now),
        exact: dt.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        iso: dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        date: dt.format("%Y-%m-%d").to_string(),
        short: dt.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let d = now - t;
    if d < 0 {
        return format!("in {}", duration((-d) as u64));
    }
    if d < 45 {
        return "just now".into();
    }
    format!("{} ago", duration(d as u64))
}

pub use crate::text::duration;

/// A short name for a user agent ("Firefox on Linux", "docker 28.2"); the full string stays
/// available on hover.
pub fn client_name(ua: &str) -> String {
    if ua.is_empty() {
        return "Unknown client".into();
    }
    let os = [("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")]
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name);
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        _ => ua.split_whitespace().next().unwrap_or(ua).chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(100, 110), "just now");
        assert_eq!(relative(0, 180), "3 minutes ago");
        assert_eq!(relative(0, 7200), "2 hours ago");
        assert_eq!(relative(0, 86_400 * 3), "3 days ago");
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(900), "15 minutes");
        assert_eq!(when(0, 0).exact, "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn clients_get_short_names() {
        assert_eq!(client_name("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"), "Chrome on Linux");
        assert_eq!(client_name("curl/8.5.0"), "curl/8.5.0");
        assert_eq!(client_name(""), "Unknown client");
    }
}

/// A size in bytes as people read it: 512 B, 1.5 KB, 23.4 MB (powers of 1,000, as Docker
/// Hub shows image sizes).
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n < 1e3 => format!("{n} B"),
        n if n < 1e6 => format!("{:.1} KB", n / 1e3),
        n if n < 1e9 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.2} GB", n / 1e9),
    }
}

#[cfg(test)]
mod bytes_tests {
    #[test]
    fn sizes_read_in_powers_of_a_thousand() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1_500), "1.5 KB");
        assert_eq!(super::bytes(23_400_000), "23.4 MB");
        assert_eq!(super::bytes(2_000_000_000), "2.00 GB");
    }
}
