//! Query strings and form bodies (`application/x-www-form-urlencoded`) as name -> value.

use std::collections::HashMap;

/// The pairs of a query or form body; the first of repeated names wins.
pub fn parse(raw: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// A non-empty value.
pub fn non_empty<'a>(m: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    m.get(name).map(String::as_str).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_plus_and_percent() {
        let m = super::parse(b"q=a+b%2Fc&csrf=x&csrf=y");
        assert_eq!(m["q"], "a b/c");
        assert_eq!(m["csrf"], "x");
    }
}
