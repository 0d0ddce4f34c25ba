//! Number and text formatting shared by the HTML, terminal and comparison output.

/// A number with precision that suits its size: `12345`, `123.4`, `1.234`, `0.007`, `1.20e-4`; `—` when
/// not finite (a missing value).
pub fn num(value: f64) -> String {
    if !value.is_finite() {
        return "—".to_owned();
    }
    let magnitude = value.abs();
    if magnitude < 1e-9 {
        // Float noise such as a least-squares slope of -2.7e-15 MiB/s: nothing to show.
        "0".to_owned()
    } else if magnitude >= 1000.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.0005 {
        format!("{value:.3}")
    } else {
        format!("{value:.2e}")
    }
}

/// An optional number, `—` when absent.
pub fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), num)
}

/// A signed percentage with one decimal, `+12.5%`; `—` when absent or not finite.
pub fn pct(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:+.1}%"),
        _ => "—".to_owned(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_by_magnitude() {
        assert_eq!(num(12345.678), "12346");
        assert_eq!(num(123.45), "123.5");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.007), "0.007");
        assert_eq!(num(0.00012), "1.20e-4");
        assert_eq!(num(-2.67e-15), "0");
        assert_eq!(num(f64::NAN), "—");
        assert_eq!(pct(Some(12.345)), "+12.3%");
        assert_eq!(pct(Some(-5.0)), "-5.0%");
        assert_eq!(pct(None), "—");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            html_escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
