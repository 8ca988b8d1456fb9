//! A strict parser of the OpenMetrics text exposition format (what Prometheus scrapes from
//! `/metrics`): metadata lines, samples with escaped labels, the sample-name suffixes each
//! metric type allows, cumulative histogram buckets, and the closing `# EOF`. Anything else is
//! an error naming the line.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

pub type Exposition = Vec<Family>;

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("bad value {s:?}")),
    }
}

/// Parses `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or } after a label".into());
        }
    }
}

fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" | "gaugehistogram" => {
            &["_bucket", "_sum", "_count", "_created", "_gcount", "_gsum"]
        }
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        "gauge" | "stateset" | "unknown" => &[""],
        _ => &[],
    }
}

/// Parses a whole exposition.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let body = text
        .strip_suffix("# EOF\n")
        .or_else(|| text.strip_suffix("# EOF"))
        .ok_or("exposition does not end with # EOF")?;
    let mut families: Exposition = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (what, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let arg = parts.next();
            if !is_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if families.last().is_none_or(|f| f.name != name) {
                if families.iter().any(|f| f.name == name) {
                    return Err(at(format!("family {name} declared twice")));
                }
                families.push(Family {
                    name: name.to_string(),
                    kind: "unknown".into(),
                    help: None,
                    unit: None,
                    samples: vec![],
                });
            }
            let f = families.last_mut().expect("just pushed");
            match (what, arg) {
                ("HELP", Some(h)) => f.help = Some(h.to_string()),
                ("TYPE", Some(t)) if !suffixes(t).is_empty() => f.kind = t.to_string(),
                ("UNIT", Some(u)) => f.unit = Some(u.to_string()),
                _ => return Err(at("bad metadata line".into())),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("bad comment".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before value".into()))?
            .split(' ');
        let value = parse_value(fields.next().unwrap_or("")).map_err(at)?;
        if let Some(ts) = fields.next() {
            parse_value(ts).map_err(|_| at("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        let f = families
            .last_mut()
            .ok_or_else(|| at("sample before any # TYPE".into()))?;
        let suffix = name
            .strip_prefix(f.name.as_str())
            .filter(|s| suffixes(&f.kind).contains(s))
            .ok_or_else(|| {
                at(format!(
                    "sample {name} does not belong to {} ({})",
                    f.name, f.kind
                ))
            })?;
        if suffix == "_bucket" && !labels.contains_key("le") {
            return Err(at("bucket without le".into()));
        }
        if f.kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(at("negative counter".into()));
        }
        f.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    for f in &families {
        if f.kind == "histogram" {
            check_histogram(f)?;
        }
    }
    Ok(families)
}

type LabelSet = Vec<(String, String)>;
/// `(le, cumulative count)` pairs in exposition order.
type Buckets = Vec<(f64, f64)>;

/// Buckets of each label set are cumulative and end with `le="+Inf"` equal to `_count`.
fn check_histogram(f: &Family) -> Result<(), String> {
    let mut series: BTreeMap<LabelSet, (Buckets, Option<f64>)> = BTreeMap::new();
    for s in &f.samples {
        let mut key: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        key.sort();
        let e = series.entry(key).or_default();
        if s.name.ends_with("_bucket") {
            e.0.push((parse_value(&s.labels["le"])?, s.value));
        } else if s.name.ends_with("_count") {
            e.1 = Some(s.value);
        }
    }
    for (key, (buckets, count)) in series {
        let ctx = || format!("histogram {} {key:?}", f.name);
        if buckets
            .windows(2)
            .any(|w| w[1].0 <= w[0].0 || w[1].1 < w[0].1)
        {
            return Err(format!("{}: buckets not cumulative", ctx()));
        }
        match (buckets.last(), count) {
            (Some((le, n)), Some(c)) if le.is_infinite() && *n == c => {}
            _ => return Err(format!("{}: no +Inf bucket equal to _count", ctx())),
        }
    }
    Ok(())
}

/// The value of sample `name` whose labels include `labels`.
pub fn value(e: &Exposition, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    e.iter().flat_map(|f| &f.samples).find_map(|s| {
        (s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .then_some(s.value)
    })
}

/// The family called `name`.
pub fn family<'a>(e: &'a Exposition, name: &str) -> Option<&'a Family> {
    e.iter().find(|f| f.name == name)
}
