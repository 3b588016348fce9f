//! Content negotiation: the `Accept` header picks the response encoding.

use flowlake::output::Format;

/// The encoding for an `Accept` header: the acceptable media range with the highest
/// quality (ties: the order the client wrote), `*/*` and a missing header meaning JSON.
/// `None` when nothing the server can produce is acceptable.
pub fn format_for(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::Json);
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let format = match media.as_str() {
            "*/*" | "application/*" => Some(Format::Json),
            "text/*" => Some(Format::Csv),
            other => Format::ALL.into_iter().find(|f| f.media_type() == other),
        };
        if let Some(format) = format
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, format));
        }
    }
    best.map(|(_, format)| format)
}

/// The media types the server produces, for a 406's message.
pub fn supported() -> String {
    Format::ALL
        .iter()
        .map(|f| f.media_type())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_encoding() {
        assert_eq!(format_for(None), Some(Format::Json));
        assert_eq!(format_for(Some("*/*")), Some(Format::Json));
        assert_eq!(
            format_for(Some("application/x-ndjson")),
            Some(Format::Ndjson)
        );
        assert_eq!(
            format_for(Some("text/csv; charset=utf-8")),
            Some(Format::Csv)
        );
        assert_eq!(
            format_for(Some("application/vnd.apache.arrow.stream")),
            Some(Format::Arrow)
        );
        assert_eq!(
            format_for(Some("text/html, text/csv;q=0.5, application/json;q=0.9")),
            Some(Format::Json)
        );
        assert_eq!(
            format_for(Some("application/json;q=0, text/csv")),
            Some(Format::Csv)
        );
        assert_eq!(format_for(Some("Application/JSON")), Some(Format::Json));
        assert_eq!(format_for(Some("text/html")), None);
        assert_eq!(format_for(Some("application/xml, image/png")), None);
        assert_eq!(format_for(Some("application/json;q=0")), None);
    }
}
